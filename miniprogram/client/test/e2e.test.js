/**
 * @jest-environment jsdom
 */
// The pages against a real chatshop server: browse, pick a SKU, add to cart, check out, pay through the
// sandbox → 待发货; buy now, close the cashier → 待付款, cancel it → the stock is back.
const path = require('path');
const simulate = require('miniprogram-simulate');
const { createWx } = require('./wx-double');
const { startServer } = require('./support/server');

const ROOT = path.resolve(__dirname, '..');
let server;
let double;

const loaded = {};
function page(name) {
  // A page is registered once; every call renders a new instance of it, as opening it again would.
  loaded[name] = loaded[name] || simulate.load(path.join(ROOT, `pages/${name}/index`), `${name}-page`, { compiler: 'simulate', rootPath: ROOT });
  const comp = simulate.render(loaded[name]);
  comp.attach(document.createElement('parent-wrapper'));
  return comp;
}

const tap = (dataset) => ({ currentTarget: { dataset } });
const lastNavigation = () => double.calls.navigations[double.calls.navigations.length - 1];
const query = (url) => Object.fromEntries(new URLSearchParams(url.split('?')[1]));

async function waitFor(read, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await read();
    if (found) return found;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function stockOf(productId, skuId) {
  const product = await server.getJson(`/mp/products/${productId}`);
  return product.skus.find((s) => s.sku_id === skuId).stock;
}

beforeAll(async () => {
  server = await startServer();
  double = createWx({
    openid: `o_e2e_${Date.now()}`,
    pay: (params, done) => server.pay(params, double.script.openid).then(done),
    consent: (openid, templateId) => server.consent(openid, templateId),
  });
  global.wx = double.wx;
  require('../config').baseUrl = server.baseUrl;
}, 60000);

afterAll(async () => {
  if (server) await server.stop();
});

test('browse, pick, add to cart, check out and pay: the order is 待发货', async () => {
  const home = page('index');
  await home.instance.onLoad();
  expect(home.instance.data.products.length).toBeGreaterThan(0);
  expect(home.dom.innerHTML).toContain('法式碎花连衣裙');
  home.instance.setData({ keyword: '连衣裙' });
  await home.instance.onSearch();
  expect(home.instance.data.products.every((p) => p.title.includes('裙'))).toBe(true);
  home.instance.onOpen(tap({ id: 'dress-floral' }));
  const opened = query(lastNavigation()[1]);
  expect(opened.id).toBe('dress-floral');

  // Opened as a product card in a chat opens it (bot/actions/products.py's pagepath, conversation added).
  const product = page('product');
  await product.instance.onLoad(query(`pages/product/index?id=${opened.id}&src=card&conversation=c1`));
  expect(product.dom.innerHTML).toContain('客服');
  expect(product.instance.data.picker.dims.map((d) => d.name)).toEqual(['尺码', '颜色']);
  await product.instance.onAddToCart(); // nothing picked yet
  expect(double.calls.toasts.pop()).toBe('请选择 尺码 / 颜色');
  product.instance.onPick(tap({ name: '尺码', value: 'M' }));
  product.instance.onPick(tap({ name: '颜色', value: '雾蓝' }));
  product.instance.onQuantity(tap({ step: 1 }));
  expect(product.instance.data.picker.sku.sku_id).toBe('dress-floral-2-M');
  expect(product.dom.innerHTML).toContain('已选：M / 雾蓝');
  const before = await stockOf('dress-floral', 'dress-floral-2-M');
  await product.instance.onAddToCart();
  expect(double.calls.toasts.pop()).toBe('已加入购物车');
  // The product card's open was passed on with the logged-in token.
  expect(double.calls.requests.some((r) => r.url.includes('/mp/products/dress-floral?src=card&conversation=c1') && r.header.Authorization)).toBe(true);

  // A second line, which the customer unticks: it is not ordered and stays in the cart.
  const other = page('product');
  await other.instance.onLoad({ id: 'dress-knit' });
  const kept = other.instance.data.product.skus.find((s) => s.stock > 2);
  for (const [name, value] of Object.entries(kept.specs)) other.instance.onPick(tap({ name, value }));
  await other.instance.onAddToCart();
  const keptBefore = await stockOf('dress-knit', kept.sku_id);

  const cart = page('cart');
  await cart.instance.onShow();
  expect(cart.instance.data.view.lines).toHaveLength(2);
  cart.instance.onToggle(tap({ sku: kept.sku_id }));
  expect(cart.instance.data.view.totalText).toBe('¥518.00');
  expect(cart.dom.innerHTML).toContain('¥518.00');
  cart.instance.onCheckout();
  const items = query(lastNavigation()[1]).items;

  const checkout = page('checkout');
  await checkout.instance.onLoad({ items });
  expect(checkout.instance.data.totalText).toBe('¥518.00');
  await checkout.instance.onSubmit();
  expect(double.calls.toasts.pop()).toBe('请选择收货地址');
  await checkout.instance.onChooseAddress();
  const done = await checkout.instance.onSubmit();
  expect(done.outcome).toBe('paid');
  expect(lastNavigation()[0]).toBe('redirectTo');

  const detail = page('order');
  await detail.instance.onLoad(query(lastNavigation()[1]));
  expect(detail.instance.data.order.status).toBe('paid');
  expect(detail.dom.innerHTML).toContain('待发货');
  expect(detail.instance.data.order.addressText).toContain('体育西路');
  expect(await stockOf('dress-floral', 'dress-floral-2-M')).toBe(before - 2);
  expect(detail.instance.data.order.items.map((i) => [i.sku_id, i.quantity])).toEqual([['dress-floral-2-M', 2]]);
  expect(await stockOf('dress-knit', kept.sku_id)).toBe(keptBefore);
  // The order went out in one checkout naming the ticked line; the cart was not rearranged around it.
  const checkouts = double.calls.requests.filter((r) => r.url.endsWith('/mp/checkout'));
  expect(checkouts.map((r) => r.data.items)).toEqual([[{ sku_id: 'dress-floral-2-M', quantity: 2 }]]);
  expect(double.calls.requests.filter((r) => r.method === 'DELETE' || r.method === 'PATCH')).toEqual([]);

  // The consent dialog asked for the order templates the server named, and the customer's 允许 became
  // credits: WeChat delivers the 订单支付成功通知 as a subscribe message.
  expect(double.calls.subscriptions).toEqual([['sbx_mp_order_paid', 'sbx_mp_order_shipped', 'sbx_mp_refund']]);
  const notice = await waitFor(async () => {
    const transcript = await server.getJson(`/sandbox/chat/transcript?account=mp&openid=${double.script.openid}`);
    return transcript.find((e) => e.via === 'subscribe' && e.payload.template_id === 'sbx_mp_order_paid');
  });
  expect(notice.payload.data.character_string1.value).toBe(done.orderNo);
  expect(notice.payload.page).toBe(`pages/order/index?no=${done.orderNo}&src=notice`);

  const orders = page('orders');
  orders.instance.onLoad({ tab: 'to_ship' });
  await orders.instance.onShow();
  expect(orders.instance.data.orders.map((o) => o.order_no)).toContain(done.orderNo);
  // Only the unticked line is left in the cart, and no error toast on the way.
  await cart.instance.onShow();
  expect(cart.instance.data.view.lines.map((l) => [l.sku_id, l.quantity])).toEqual([[kept.sku_id, 1]]);
  expect(double.calls.toasts.filter((t) => /失败|不足|开小差|网络/.test(t))).toEqual([]);
}, 60000);

const cartLines = async () => {
  const cart = page('cart');
  await cart.instance.onShow();
  return cart.instance.data.view.lines.map((l) => [l.sku_id, l.quantity]);
};

test('a closed cashier leaves the order 待付款; cancelling it returns the stock', async () => {
  double.script.pay = (params, done) => done('requestPayment:fail cancel');
  // 立即购买 of the SKU the cart still holds from the first test: the cart is left as it was.
  const cartBefore = await cartLines();
  const product = page('product');
  await product.instance.onLoad({ id: 'dress-knit' });
  const target = product.instance.data.product.skus.find((s) => s.stock > 2);
  expect(cartBefore.map(([sku]) => sku)).toContain(target.sku_id);
  for (const [name, value] of Object.entries(target.specs)) product.instance.onPick(tap({ name, value }));
  const before = await stockOf('dress-knit', target.sku_id);
  product.instance.onBuyNow();
  const options = query(lastNavigation()[1]);

  const checkout = page('checkout');
  await checkout.instance.onLoad(options);
  await checkout.instance.onChooseAddress();
  const done = await checkout.instance.onSubmit();
  expect(done.outcome).toBe('cancelled');
  expect(double.calls.toasts.pop()).toBe('已取消支付，可在订单中继续付款');
  expect(await stockOf('dress-knit', target.sku_id)).toBe(before - 1);
  expect(double.calls.requests.filter((r) => r.url.endsWith('/mp/checkout')).pop().data)
    .toMatchObject({ items: [{ sku_id: target.sku_id, quantity: 1 }], keep_cart: true });
  expect(await cartLines()).toEqual(cartBefore);

  const orders = page('orders');
  orders.instance.onLoad({ tab: 'pending' });
  await orders.instance.onShow();
  const pending = orders.instance.data.orders.find((o) => o.order_no === done.orderNo);
  expect(pending.statusText).toBe('待付款');
  expect(pending.actions.pay).toBe(true);
  expect(orders.dom.innerHTML).toContain('去付款');

  await orders.instance.act(tap({ no: done.orderNo, action: 'cancel' }));
  expect(double.calls.modals.pop()).toBe('取消订单');
  expect(orders.instance.data.orders.find((o) => o.order_no === done.orderNo)).toBeUndefined();
  expect(await stockOf('dress-knit', target.sku_id)).toBe(before);
}, 60000);

test('an unpaid order is paid later from its page; a refund is asked for with a reason', async () => {
  double.script.pay = (params, done) => done('requestPayment:fail cancel');
  const product = page('product');
  await product.instance.onLoad({ id: 'dress-knit' });
  const target = product.instance.data.product.skus.find((s) => s.stock > 2);
  for (const [name, value] of Object.entries(target.specs)) product.instance.onPick(tap({ name, value }));
  product.instance.onBuyNow();
  const checkout = page('checkout');
  await checkout.instance.onLoad(query(lastNavigation()[1]));
  await checkout.instance.onChooseAddress();
  const done = await checkout.instance.onSubmit();
  expect(done.outcome).toBe('cancelled');

  double.script.pay = (params, done2) => server.pay(params, double.script.openid).then(done2);
  const detail = page('order');
  await detail.instance.onLoad(query(lastNavigation()[1]));
  expect(detail.instance.data.order.statusText).toBe('待付款');
  await detail.instance.act(tap({ action: 'pay' }));
  expect(detail.instance.data.order.statusText).toBe('待发货');

  double.script.modalAnswers.push({ confirm: true, content: '尺码不合适' });
  await detail.instance.act(tap({ action: 'refund' }));
  expect(detail.instance.data.order.status).toBe('refunding');
  expect(detail.dom.innerHTML).toContain('退款中');
  const orders = page('orders');
  orders.instance.onLoad({ tab: 'after_sale' });
  await orders.instance.onShow();
  expect(orders.instance.data.orders.map((o) => o.order_no)).toContain(done.orderNo);
}, 60000);

test('an expired token is renewed without the customer seeing it', async () => {
  double.wx.setStorageSync('chatshop.token', 'mp_revoked-or-expired');
  const me = page('me');
  await me.instance.onShow(); // /mp/me is answered 401 quietly-renewed
  const cart = page('cart');
  await cart.instance.onShow();
  expect(cart.instance.data.failed).toBe(false);
  expect(double.wx.getStorageSync('chatshop.token')).not.toBe('mp_revoked-or-expired');
}, 30000);

test('the pages the knowledge base cards open exist and render', async () => {
  const fresh = page('new');
  await fresh.instance.onLoad();
  expect(fresh.instance.data.products.length).toBeGreaterThan(0);
  expect(fresh.dom.innerHTML).toContain('每周五晚上 8 点上新');
  const guide = page('size-guide');
  guide.instance.onLoad();
  expect(guide.instance.data.image).toBe(`${server.baseUrl}/images/demo/size-guide.jpg`);
  const me = page('me');
  await me.instance.onShow();
  expect(me.instance.data.loggedIn).toBe(true);
  expect(me.dom.innerHTML).toContain('联系客服');
}, 30000);

test('opening the shop from a campaign message records the open for the campaign', async () => {
  // App() registers the app's definition with WeChat; here it is captured and its onShow called as WeChat
  // does when a subscribe message is tapped (the page's path and query).
  let definition;
  global.App = (d) => { definition = d; };
  global.getApp = () => definition;
  jest.isolateModules(() => require('../app'));
  const before = double.calls.requests.length;
  definition.onShow({ path: 'pages/index/index', query: { src: 'campaign', c: '7' }, scene: 1014 });
  definition.onShow({ path: 'pages/index/index', query: {}, scene: 1001 }); // opened from the home screen
  await waitFor(async () => double.calls.requests.slice(before).find((r) => r.url.endsWith('/mp/opens')));
  const opens = double.calls.requests.slice(before).filter((r) => r.url.endsWith('/mp/opens'));
  expect(opens.map((r) => r.data)).toEqual([{ src: 'campaign', ref: 7, page: 'pages/index/index' }]);
}, 30000);

test('a product browsed to in a visit a campaign opened is credited to the campaign', async () => {
  let definition;
  global.App = (d) => { definition = d; };
  global.getApp = () => definition;
  require('../app'); // not isolated: the app and the product page must share utils/shop's visit
  const products = () => double.calls.requests.filter((r) => r.url.includes('/mp/products/dress-floral'));
  // Given the shop was opened from campaign 7's message, a product page opened from the list
  definition.onShow({ path: 'pages/index/index', query: { src: 'campaign', c: '7' }, scene: 1014 });
  let before = products().length;
  await page('product').instance.onLoad(query('pages/product/index?id=dress-floral'));
  expect(products().slice(before).map((r) => r.url)).toEqual([expect.stringContaining('?src=campaign&ref=7')]);
  // A card opened in the same visit keeps its own src
  before = products().length;
  await page('product').instance.onLoad(query('pages/product/index?id=dress-floral&src=card&conversation=c9'));
  expect(products().slice(before).map((r) => r.url)).toEqual([expect.stringContaining('?src=card&conversation=c9')]);
  // Opened again from the home screen, browsing is direct
  definition.onShow({ path: 'pages/index/index', query: {}, scene: 1001 });
  before = products().length;
  await page('product').instance.onLoad(query('pages/product/index?id=dress-floral'));
  expect(products().slice(before).map((r) => r.url)).toEqual([expect.not.stringContaining('src=')]);
}, 30000);
