// 购物车: lines with their quantities, tick boxes, and the total of the ticked lines in yuan.
const client = require('../../utils/client');
const shop = require('../../utils/shop');
const cartLogic = require('../../utils/cart');

// Unticked lines survive a restart of the mini-program: the choice is the customer's, not the server's.
const DESELECTED_KEY = 'chatshop.cart.deselected';

Component({
  data: { view: null, failed: false },
  methods: {
    onShow() {
      return this.load();
    },
    onPullDownRefresh() {
      return this.load().finally(() => wx.stopPullDownRefresh());
    },
    async load() {
      try {
        this.render(await shop.cart.get(client));
      } catch (e) {
        this.setData({ failed: true });
      }
    },
    render(cart) {
      this.cart = cart;
      const deselected = wx.getStorageSync(DESELECTED_KEY) || [];
      this.setData({ view: cartLogic.cartView(cart, deselected), failed: false });
    },
    onToggle(e) {
      const deselected = cartLogic.toggleSelected(wx.getStorageSync(DESELECTED_KEY) || [], e.currentTarget.dataset.sku);
      wx.setStorageSync(DESELECTED_KEY, deselected);
      this.render(this.cart);
    },
    onToggleAll() {
      wx.setStorageSync(DESELECTED_KEY, cartLogic.selectAll(this.cart, !this.data.view.allSelected));
      this.render(this.cart);
    },
    async onQuantity(e) {
      const { sku, step } = e.currentTarget.dataset;
      const line = this.cart.lines.find((l) => l.sku_id === sku);
      const quantity = line.quantity + Number(step);
      if (quantity < 1) return this.onRemove(e);
      try {
        this.render(await shop.cart.set(client, sku, quantity));
      } catch (err) {
        // the toast says why (库存不足 and the like); the line keeps its quantity
      }
    },
    onRemove(e) {
      const sku = e.currentTarget.dataset.sku;
      return new Promise((resolve) => {
        wx.showModal({
          title: '删除商品',
          content: '确定从购物车中删除吗？',
          success: async (res) => {
            if (res.confirm) {
              try {
                this.render(await shop.cart.remove(client, sku));
              } catch (err) {
                // shown by the request
              }
            }
            resolve();
          },
        });
      });
    },
    onCheckout() {
      const items = this.data.view.selectedItems;
      if (!items.length) {
        wx.showToast({ title: '请选择要结算的商品', icon: 'none' });
        return;
      }
      wx.navigateTo({ url: `/pages/checkout/index?items=${encodeURIComponent(JSON.stringify(items))}` });
    },
    onShop() {
      wx.switchTab({ url: '/pages/index/index' });
    },
  },
});
