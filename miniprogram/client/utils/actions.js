// The buttons an order offers, shared by the order list and the order detail page: each resolves with the
// order as it now stands, or null when nothing changed.
const client = require('./client');
const shop = require('./shop');

function confirm(title, content) {
  return new Promise((resolve) => wx.showModal({ title, content, success: (res) => resolve(!!res.confirm), fail: () => resolve(false) }));
}

// Pay again: a new cashier for the same order; a cancelled cashier leaves it 待付款 as before.
async function pay(orderNo) {
  try {
    const params = await shop.payParamsFor(client, orderNo);
    const outcome = await shop.requestPayment(wx, params);
    if (outcome === 'paid') {
      wx.showToast({ title: '支付成功', icon: 'success' });
      return shop.settledOrder(client, orderNo);
    }
    wx.showToast({ title: outcome === 'cancelled' ? '已取消支付' : '支付未完成，请稍后重试', icon: 'none' });
  } catch (e) {
    // shown by the request
  }
  return null;
}

async function cancel(orderNo) {
  if (!(await confirm('取消订单', '确定取消这个订单吗？'))) return null;
  try {
    const order = await shop.orders.cancel(client, orderNo);
    wx.showToast({ title: '订单已取消', icon: 'success' });
    return order;
  } catch (e) {
    return null;
  }
}

async function confirmReceipt(orderNo) {
  if (!(await confirm('确认收货', '确认已收到商品吗？'))) return null;
  try {
    return await shop.orders.confirm(client, orderNo);
  } catch (e) {
    return null;
  }
}

// The reason is typed into the modal's own text box (editable), so no extra page is needed.
function refund(orderNo) {
  return new Promise((resolve) => {
    wx.showModal({
      title: '申请退款',
      editable: true,
      placeholderText: '请填写退款原因',
      success: async (res) => {
        if (!res.confirm) return resolve(null);
        const reason = (res.content || '').trim();
        if (!reason) {
          wx.showToast({ title: '请填写退款原因', icon: 'none' });
          return resolve(null);
        }
        try {
          const order = await shop.orders.refund(client, orderNo, reason.slice(0, 120));
          wx.showToast({ title: '已提交退款申请', icon: 'success' });
          return resolve(order);
        } catch (e) {
          return resolve(null);
        }
      },
      fail: () => resolve(null),
    });
  });
}

module.exports = { pay, cancel, confirmReceipt, refund };
