// 结算: the address, what is being bought, and 提交订单 → consent to order notices → WeChat Pay.
const client = require('../../utils/client');
const shop = require('../../utils/shop');
const { yuan, sumFen } = require('../../utils/money');
const { specText } = require('../../utils/sku');

// Where the customer lands after the cashier, and what the toast there says.
const OUTCOME_TOAST = {
  paid: '支付成功',
  cancelled: '已取消支付，可在订单中继续付款',
  failed: '支付未完成，可在订单中重新支付',
  unavailable: '订单已提交，支付暂不可用，请稍后在订单中付款',
};

Component({
  data: { items: [], lines: [], totalText: '', address: null, addressText: '', submitting: false },
  methods: {
    async onLoad(options) {
      const items = JSON.parse(decodeURIComponent((options && options.items) || '[]'));
      this.templates = [];
      // Opened by 立即购买 (with its product): the cart is not what is being bought, and stays as it is.
      this.buyNow = Boolean(options && options.product);
      this.setData({ items });
      // Fetched now: the consent dialog must open straight from the tap on 提交订单.
      shop.subscriptionTemplates(client, 'order').then((ids) => { this.templates = ids; });
      try {
        const known = {};
        const cart = await shop.cart.get(client);
        for (const line of cart.lines) known[line.sku_id] = line;
        if (options && options.product) {
          const product = await shop.product(client, options.product);
          for (const s of product.skus) known[s.sku_id] = Object.assign({ title: product.title }, s);
        }
        const lines = items.filter((item) => known[item.sku_id]).map((item) => {
          const line = known[item.sku_id];
          return { sku_id: item.sku_id, title: line.title, specText: specText(line.specs), price_fen: line.price_fen,
            priceText: yuan(line.price_fen), quantity: item.quantity };
        });
        this.setData({ lines, totalText: yuan(sumFen(lines)) });
      } catch (e) {
        // the toast said why; the summary stays empty and 提交订单 still asks the server
      }
    },
    onChooseAddress() {
      return new Promise((resolve) => {
        wx.chooseAddress({
          success: (a) => {
            const address = shop.addressFromWechat(a);
            this.setData({ address, addressText: `${address.name} ${address.phone}\n${[address.province, address.city, address.district, address.detail].filter(Boolean).join(' ')}` });
            resolve(address);
          },
          fail: (err) => {
            if (!/cancel/.test((err && err.errMsg) || '')) wx.showToast({ title: '无法获取收货地址，请在设置中允许', icon: 'none' });
            resolve(null);
          },
        });
      });
    },
    async onSubmit() {
      if (this.data.submitting) return null;
      if (!this.data.address) {
        wx.showToast({ title: '请选择收货地址', icon: 'none' });
        return null;
      }
      const consent = shop.askSubscriptions(client, wx, this.templates);
      this.setData({ submitting: true });
      let outcome;
      let orderNo;
      try {
        await consent;
        const placed = await shop.placeOrder(client, this.data.items, this.data.address, { buyNow: this.buyNow });
        orderNo = placed.order_no;
        outcome = placed.pay_params ? await shop.requestPayment(wx, placed.pay_params) : 'unavailable';
      } catch (e) {
        this.setData({ submitting: false });
        return null; // not placed: the toast said why, and the customer can try again from here
      }
      // Placed, whatever the cashier said: the order page shows it, and pays it again when it is unpaid.
      wx.redirectTo({ url: `/pages/order/index?no=${orderNo}&outcome=${outcome}` });
      wx.showToast({ title: OUTCOME_TOAST[outcome], icon: outcome === 'paid' ? 'success' : 'none', duration: 2500 });
      return { orderNo, outcome };
    },
  },
});
