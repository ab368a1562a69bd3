// Order statuses as the customer reads them, the tabs of 我的订单, and what each order lets them do.

const { yuan } = require('./money');
const { specText } = require('./sku');

const STATUS_TEXT = {
  pending_payment: '待付款',
  paid: '待发货',
  shipped: '待收货',
  delivered: '已签收',
  completed: '已完成',
  cancelled: '已取消',
  refunding: '退款中',
  refunded: '已退款',
};

// `statuses` null: every order. A tab of one status is asked of the server as ?status=; 售后 spans two, so
// it is filtered here from the full list.
const TABS = [
  { key: 'pending', title: '待付款', statuses: ['pending_payment'] },
  { key: 'to_ship', title: '待发货', statuses: ['paid'] },
  { key: 'to_receive', title: '待收货', statuses: ['shipped'] },
  { key: 'after_sale', title: '售后', statuses: ['refunding', 'refunded'] },
  { key: 'all', title: '全部', statuses: null },
];

function tabOf(key) {
  return TABS.find((tab) => tab.key === key) || TABS[TABS.length - 1];
}

// The query for GET /mp/orders: the server filters when one status is enough.
function queryOf(key) {
  const tab = tabOf(key);
  return tab.statuses && tab.statuses.length === 1 ? { status: tab.statuses[0] } : {};
}

function filterOrders(orders, key) {
  const tab = tabOf(key);
  return (orders || []).filter((order) => !tab.statuses || tab.statuses.includes(order.status));
}

// What the buttons under an order offer. A refund can be asked for once money has been paid and no refund
// is under way; the server still decides (and staff after it).
function actionsOf(order) {
  const s = order.status;
  return {
    pay: s === 'pending_payment',
    cancel: s === 'pending_payment',
    confirm: s === 'shipped',
    refund: ['paid', 'shipped', 'delivered', 'completed'].includes(s) && order.refunded_fen < order.amount_fen,
  };
}

function pad(n) {
  return String(n).padStart(2, '0');
}

// Server times are ISO 8601 in UTC; the customer reads them on the phone's clock.
function timeText(iso) {
  if (!iso) return '';
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return '';
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${pad(t.getHours())}:${pad(t.getMinutes())}`;
}

// The milestones an order has passed, oldest first, for the detail page's history.
function historyOf(order) {
  const steps = [{ title: '下单', time: order.created_at }];
  if (order.paid_at) steps.push({ title: '付款', time: order.paid_at });
  if (order.shipped_at) steps.push({ title: '发货', time: order.shipped_at });
  for (const refund of order.refunds || []) {
    steps.push({ title: `申请退款（${refund.reason}）`, time: null, note: `${yuan(refund.amount_fen)} · ${refund.status}` });
  }
  if (order.status === 'cancelled') steps.push({ title: '已取消', time: null });
  return steps.map((step) => Object.assign({}, step, { timeText: timeText(step.time) }));
}

function addressText(address) {
  const a = address || {};
  return [a.province, a.city, a.district, a.detail].filter(Boolean).join(' ');
}

function orderView(order) {
  return Object.assign({}, order, {
    statusText: STATUS_TEXT[order.status] || order.status,
    amountText: yuan(order.amount_fen),
    refundedText: order.refunded_fen ? yuan(order.refunded_fen) : '',
    createdText: timeText(order.created_at),
    itemCount: (order.items || []).reduce((n, item) => n + item.quantity, 0),
    items: (order.items || []).map((item) => Object.assign({}, item, {
      specText: specText(item.specs),
      priceText: yuan(item.price_fen),
    })),
    actions: actionsOf(order),
    addressText: addressText(order.address),
    history: historyOf(order),
  });
}

module.exports = { TABS, STATUS_TEXT, tabOf, queryOf, filterOrders, actionsOf, orderView, timeText, addressText };
