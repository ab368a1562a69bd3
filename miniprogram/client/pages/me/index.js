// 我的: whether this phone is logged in, the order tabs, and 客服.
const client = require('../../utils/client');
const { TABS } = require('../../utils/orders');

Component({
  data: { loggedIn: false, openid: '', tabs: TABS },
  methods: {
    async onShow() {
      if (!client.token()) {
        this.setData({ loggedIn: false, openid: '' });
        return;
      }
      try {
        const me = await client.get('/mp/me', undefined, { loading: false });
        this.setData({ loggedIn: true, openid: me.openid });
      } catch (e) {
        this.setData({ loggedIn: false, openid: '' });
      }
    },
    async onLogin() {
      try {
        await client.login();
        await this.onShow();
        wx.showToast({ title: '登录成功', icon: 'success' });
      } catch (e) {
        wx.showToast({ title: e.message || '登录失败，请重试', icon: 'none' });
      }
    },
    onOrders(e) {
      wx.navigateTo({ url: `/pages/orders/index?tab=${e.currentTarget.dataset.tab}` });
    },
  },
});
