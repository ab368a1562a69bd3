// How the console writes times, durations, money and the API's enums in Chinese.

const pad = (n) => String(n).padStart(2, '0');

export function clock(iso) {
  if (!iso) return '';
  const at = new Date(iso);
  return `${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

// Today's times as 14:05, older ones with their date.
export function when(iso) {
  if (!iso) return '';
  const at = new Date(iso);
  const now = new Date();
  if (at.toDateString() === now.toDateString()) return clock(iso);
  return `${at.getMonth() + 1}月${at.getDate()}日 ${clock(iso)}`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} 秒`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} 分钟`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} 小时 ${m % 60} 分` : `${h} 小时`;
  return `${Math.floor(h / 24)} 天 ${h % 24} 小时`;
}

export function since(iso, now) {
  if (!iso) return '—';
  return duration((now - new Date(iso).getTime()) / 1000);
}

// Money is fen everywhere in the API; staff read yuan.
export function yuan(fen) {
  if (fen === null || fen === undefined) return '—';
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(fen);
  return `${sign}¥${Math.floor(abs / 100)}.${pad(abs % 100)}`;
}

export const STATUS = { online: '在线', away: '离开', offline: '离线' };
export const ROLE = { agent: '客服', supervisor: '主管', admin: '管理员', marketer: '营销' };
export const STATE = { queued: '排队中', assigned: '接待中', resolved: '已解决' };
export const CHANNEL = { oa: '公众号', mp: '小程序' };
export const REASON = {
  asked: '客户要求人工',
  complaint: '客户投诉',
  fallback: '机器人未能理解',
  rule: '标签规则转人工',
  staff: '客服发起',
};
export const RESOLUTION = { agent: '客服结束', customer_ended: '客户结束', customer_silent: '客户无回应' };
export const DELIVERY = {
  received: '',
  passive: '已回复',
  pending: '待发送',
  sending: '发送中',
  sent: '已发送',
  refused: '被拒绝',
  failed: '发送失败',
  in_doubt: '状态未知',
};
export const ORDER_STATUS = {
  pending_payment: '待付款',
  paid: '已付款',
  shipped: '已发货',
  delivered: '已签收',
  completed: '已完成',
  cancelled: '已取消',
  refunding: '退款中',
  refunded: '已退款',
};
export const EVENT = {
  queued: '进入队列',
  assigned: '已分配',
  claimed: '被领取',
  transferred: '已转接',
  resolved: '已解决',
  escalated: '已上报主管',
  reminded: '已提醒客服',
  requeued: '重新排队',
};

// Who made a move in a conversation's timeline, when it was not a member of staff.
export const ACTOR = { bot: '机器人', routing: '自动分配', customer: '客户', timeouts: '超时规则' };
