// WeChat's refusal codes in words an agent acts on; the API's own message is shown beside them.
const REASONS = {
  45015: '已超出 48 小时回复窗口，需等客户再次发消息',
  45047: '本窗口可发送的客服消息已用完，需等客户再次发消息',
  43004: '客户已取消关注',
  40003: '客户的 openid 无效',
  45009: '接口调用超过限额',
  45002: '消息内容过长',
  '-1': '微信系统繁忙',
};

export function wechatReason(code) {
  return REASONS[code] || (code ? `微信错误 ${code}` : '');
}
