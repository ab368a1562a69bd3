// 订单详情: items, amounts, history, carrier and tracking number, and the order's buttons.
const client = require('../../utils/client');
const shop = require('../../utils/shop');
const { orderView } = require('../../utils/orders');
const actions = require('../../utils/actions');

Component({
  data: { order: null, failed: false },
  methods: {
    // Arriving from the cashier with outcome=paid, the payment notification may still be on its way.
    async onLoad(options) {
      this.orderNo = options.no;
      try {
        const order = options.outcome === 'paid'
          ? await shop.settledOrder(client, this.orderNo)
          : await shop.orders.get(client, this.orderNo);
        this.setData({ order: orderView(order), failed: false });
      } catch (e) {
        this.setData({ failed: true });
      }
    },
    onRetry() {
      return this.onLoad({ no: this.orderNo });
    },
    async act(e) {
      const changed = await actions[e.currentTarget.dataset.action](this.orderNo);
      if (changed) this.setData({ order: orderView(changed) });
      return changed;
    },
    onCopy() {
      wx.setClipboardData({ data: this.data.order.tracking_no });
    },
  },
});
