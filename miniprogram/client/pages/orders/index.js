// 我的订单: tabs 待付款 / 待发货 / 待收货 / 售后 / 全部, and each order's buttons.
const client = require('../../utils/client');
const shop = require('../../utils/shop');
const orderLogic = require('../../utils/orders');
const actions = require('../../utils/actions');

const PAGE = 20;

Component({
  data: { tabs: orderLogic.TABS, tab: 'all', orders: [], loading: false, done: false, failed: false },
  methods: {
    onLoad(options) {
      this.setData({ tab: orderLogic.tabOf(options && options.tab).key });
    },
    onShow() {
      return this.reload();
    },
    onPullDownRefresh() {
      return this.reload().finally(() => wx.stopPullDownRefresh());
    },
    onReachBottom() {
      return this.more();
    },
    onTab(e) {
      this.setData({ tab: e.currentTarget.dataset.key });
      return this.reload();
    },
    reload() {
      this.fetched = 0;
      this.setData({ orders: [], done: false, failed: false });
      return this.more();
    },
    // Pages of the server's list (by status when one is enough), filtered for the tab here.
    async more() {
      if (this.data.loading || this.data.done) return;
      this.setData({ loading: true });
      try {
        const params = Object.assign({ limit: PAGE, offset: this.fetched }, orderLogic.queryOf(this.data.tab));
        const page = await shop.orders.list(client, params);
        this.fetched += page.orders.length;
        const found = orderLogic.filterOrders(page.orders, this.data.tab).map(orderLogic.orderView);
        this.setData({ orders: this.data.orders.concat(found), done: page.orders.length < PAGE });
      } catch (e) {
        this.setData({ failed: true });
      } finally {
        this.setData({ loading: false });
      }
    },
    onOpen(e) {
      wx.navigateTo({ url: `/pages/order/index?no=${e.currentTarget.dataset.no}` });
    },
    async act(e) {
      const { no, action } = e.currentTarget.dataset;
      const changed = await actions[action](no);
      if (changed) await this.reload();
      return changed;
    },
  },
});
