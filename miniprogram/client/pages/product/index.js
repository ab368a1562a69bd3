// 商品详情: pictures, the SKU picker, quantity, 加入购物车 / 立即购买, and 客服 with this product's card.
const client = require('../../utils/client');
const shop = require('../../utils/shop');
const sku = require('../../utils/sku');
const { clampQuantity } = require('../../utils/cart');

Component({
  data: { product: null, images: [], picked: {}, picker: null, quantity: 1, failed: false, cardPath: '', cardImage: '' },
  methods: {
    // Opened from a product card or a reminder, the options carry src (and the conversation): they go to
    // the server, which records that this customer opened the card. Browsed to within a visit that a
    // campaign opened, the campaign's src goes instead.
    async onLoad(options) {
      this.options = options || {};
      try {
        const product = await shop.product(client, this.options.id, {
          ...shop.productSource(this.options), conversation: this.options.conversation });
        const picked = sku.initialPick(product.skus);
        const images = product.images.map((path) => client.imageUrl(path));
        this.setData({
          product, images, picked, picker: sku.pickerView(product.skus, picked), failed: false,
          cardPath: `pages/product/index?id=${encodeURIComponent(product.id)}`,
          cardImage: images[0] || '',
        });
        wx.setNavigationBarTitle({ title: product.title });
      } catch (e) {
        this.setData({ failed: true });
      }
    },
    onPick(e) {
      const { name, value } = e.currentTarget.dataset;
      const picked = sku.toggle(this.data.product.skus, this.data.picked, name, value);
      const picker = sku.pickerView(this.data.product.skus, picked);
      const quantity = picker.sku ? clampQuantity(this.data.quantity, picker.sku.stock) : this.data.quantity;
      this.setData({ picked, picker, quantity });
    },
    onQuantity(e) {
      const step = Number(e.currentTarget.dataset.step);
      const stock = this.data.picker.sku ? this.data.picker.sku.stock : 1;
      this.setData({ quantity: clampQuantity(this.data.quantity + step, stock) });
    },
    // The picked SKU, or a toast saying what is still to pick.
    chosen() {
      const picker = this.data.picker;
      if (!picker || !picker.sku) {
        wx.showToast({ title: picker ? picker.prompt : '商品加载中', icon: 'none' });
        return null;
      }
      if (picker.soldOut) {
        wx.showToast({ title: '该规格已售罄', icon: 'none' });
        return null;
      }
      return picker.sku;
    },
    async onAddToCart() {
      const chosen = this.chosen();
      if (!chosen) return;
      try {
        await shop.cart.add(client, chosen.sku_id, this.data.quantity);
        wx.showToast({ title: '已加入购物车', icon: 'success' });
      } catch (e) {
        // request.js has shown why
      }
    },
    onBuyNow() {
      const chosen = this.chosen();
      if (!chosen) return;
      const items = JSON.stringify([{ sku_id: chosen.sku_id, quantity: this.data.quantity }]);
      wx.navigateTo({ url: `/pages/checkout/index?items=${encodeURIComponent(items)}&product=${encodeURIComponent(this.data.product.id)}` });
    },
    onCart() {
      wx.switchTab({ url: '/pages/cart/index' });
    },
    onRetry() {
      return this.onLoad(this.options);
    },
  },
});
