// 首页, 分类 and 搜索 in one page: a search box, the categories as tabs, and the products they find,
// loaded a page at a time as the customer scrolls.
const client = require('../../utils/client');
const shop = require('../../utils/shop');
const { priceRange } = require('../../utils/money');

function cardOf(product) {
  return {
    id: product.id,
    title: product.title,
    image: client.imageUrl(product.images[0]),
    price: priceRange(product.skus),
    soldOut: !product.skus.some((sku) => sku.stock > 0),
  };
}

Component({
  data: { categories: [], category: '', q: '', keyword: '', products: [], total: 0, loading: false, done: false, failed: false },
  methods: {
    onLoad() {
      shop.categories(client, { loading: false }).then((categories) => this.setData({ categories })).catch(() => {});
      return this.reload();
    },
    onPullDownRefresh() {
      return this.reload().finally(() => wx.stopPullDownRefresh());
    },
    onReachBottom() {
      return this.more();
    },
    reload() {
      this.setData({ products: [], total: 0, done: false, failed: false });
      return this.more();
    },
    async more() {
      if (this.data.loading || this.data.done) return;
      this.setData({ loading: true });
      try {
        const page = await shop.products(client, { q: this.data.q, category: this.data.category, offset: this.data.products.length });
        const products = this.data.products.concat(page.products.map(cardOf));
        this.setData({ products, total: page.total, done: products.length >= page.total || !page.products.length });
      } catch (e) {
        this.setData({ failed: true }); // the toast said why; the page offers 重试 instead of going blank
      } finally {
        this.setData({ loading: false });
      }
    },
    onInput(e) {
      this.setData({ keyword: e.detail.value });
    },
    onSearch() {
      this.setData({ q: this.data.keyword.trim() });
      return this.reload();
    },
    onCategory(e) {
      this.setData({ category: e.currentTarget.dataset.name || '' });
      return this.reload();
    },
    onOpen(e) {
      wx.navigateTo({ url: `/pages/product/index?id=${encodeURIComponent(e.currentTarget.dataset.id)}` });
    },
  },
});
