// 本周新品: where the knowledge base's 上新 card (pages/new/index) lands. The API has no arrival dates,
// so it shows the catalog as the store orders it, newest lines being where the store puts them.
const client = require('../../utils/client');
const shop = require('../../utils/shop');
const { priceRange } = require('../../utils/money');

Component({
  data: { products: [], failed: false },
  methods: {
    async onLoad() {
      try {
        const page = await shop.products(client, { limit: 20 });
        this.setData({
          failed: false,
          products: page.products.map((p) => ({ id: p.id, title: p.title, image: client.imageUrl(p.images[0]), price: priceRange(p.skus) })),
        });
      } catch (e) {
        this.setData({ failed: true });
      }
    },
    onPullDownRefresh() {
      return this.onLoad().finally(() => wx.stopPullDownRefresh());
    },
    onOpen(e) {
      wx.navigateTo({ url: `/pages/product/index?id=${encodeURIComponent(e.currentTarget.dataset.id)}` });
    },
    onHome() {
      wx.switchTab({ url: '/pages/index/index' });
    },
  },
});
