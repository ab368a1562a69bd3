// The shop's operations over the /mp/ API, shared by the pages: catalog, cart, checkout, payment, orders.

const { ApiError } = require('./request');

function query(params) {
  const out = {};
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== '') out[key] = value;
  }
  return out;
}

const PAGE_SIZE = 10;

function products(client, { q, category, offset = 0, limit = PAGE_SIZE } = {}, opts) {
  return client.get('/mp/products', query({ q, category, offset, limit }), Object.assign({ auth: false }, opts));
}

// The API has no category list; the categories are those of the products on sale, in catalog order.
async function categories(client, opts) {
  const page = await products(client, { limit: 100 }, opts);
  const names = [];
  for (const product of page.products) if (!names.includes(product.category)) names.push(product.category);
  return names;
}

// src and conversation come from the card or reminder that opened the page. The server records the open
// only for a logged-in customer, and a card often cold-starts the mini-program before the launch login has
// finished: with a src the page waits for the login; browsing otherwise sends a token only if there is one.
function product(client, id, { src, ref, conversation } = {}) {
  return client.get(`/mp/products/${encodeURIComponent(id)}`, query({ src, ref, conversation }), { auth: src ? true : 'optional' });
}

// Where this visit came from: a campaign opens the home page (src=campaign&c=7), and the products the
// customer then browses to are credited to it until the mini-program is next opened some other way.
let entry = null;
function rememberEntry(pageQuery) {
  const src = pageQuery && pageQuery.src;
  entry = src === 'campaign' || src === 'cart_reminder'
    ? { src, ref: Number(pageQuery.c || pageQuery.r) || undefined }
    : null;
}

// A product page's own src (a card, a reminder) wins; else the visit's entry; else none (direct).
function productSource(options) {
  const own = options || {};
  if (own.src) return { src: own.src, ref: Number(own.c || own.r) || undefined };
  return entry ? { ...entry } : {};
}

const cart = {
  get: (client, opts) => client.get('/mp/cart', undefined, opts),
  add: (client, skuId, quantity) => client.post('/mp/cart/items', { sku_id: skuId, quantity }),
  set: (client, skuId, quantity) => client.patch(`/mp/cart/items/${encodeURIComponent(skuId)}`, { quantity }),
  remove: (client, skuId) => client.del(`/mp/cart/items/${encodeURIComponent(skuId)}`),
};

// Places an order for exactly `items` ([{sku_id, quantity}]) shipped to `address`. The server takes the
// ordered SKUs' lines out of the cart and leaves the rest; `buyNow` (立即购买) leaves the cart as it was.
// Resolves with the checkout's answer; a 503 PAYMENT_UNAVAILABLE still placed the order, so it resolves
// with that order_no and no pay_params (it can be paid from the order page).
async function placeOrder(client, items, address, { buyNow = false } = {}) {
  const body = { address, items: items.map((item) => ({ sku_id: item.sku_id, quantity: item.quantity })) };
  if (buyNow) body.keep_cart = true;
  try {
    return await client.post('/mp/checkout', body, { quiet: [503] });
  } catch (err) {
    const orderNo = err.body && err.body.error && err.body.error.order_no;
    if (err instanceof ApiError && err.status === 503 && orderNo) return { order_no: orderNo, pay_params: null };
    if (err.status === 503) client.toast(err.message);
    throw err;
  }
}

// What wx.chooseAddress gives, in the shape of the checkout's address.
function addressFromWechat(a) {
  return query({
    name: a.userName,
    phone: a.telNumber,
    province: a.provinceName,
    city: a.cityName,
    district: a.countyName,
    detail: a.detailInfo,
    postal_code: a.postalCode,
  });
}

// The templates the customer is asked to subscribe to at this moment (`order` at checkout): the server
// names them (at most 3, WeChat's limit), so no template id is written into the client. A failure means
// "ask for none": a consent must never stand in the way of paying.
async function subscriptionTemplates(client, purpose) {
  try {
    const answer = await client.get('/mp/subscriptions/templates', { purpose }, { loading: false, quiet: true });
    return ((answer && answer.templates) || []).map((t) => t.template_id);
  } catch (e) {
    return [];
  }
}

// A page opened from a campaign, a cart reminder or an order notice (`src`, with `c=` or `r=`): told to the
// server for the store's numbers, in the background.
const TRACKED_SOURCES = ['campaign', 'cart_reminder', 'notice'];
function recordOpen(client, pagePath, query) {
  if (!query || !TRACKED_SOURCES.includes(query.src)) return Promise.resolve(false);
  const ref = Number(query.c || query.r) || undefined;
  return client.post('/mp/opens', { src: query.src, ref, page: String(pagePath || '').slice(0, 64) },
    { loading: false, quiet: true }).then(() => true, () => false);
}

// WeChat only shows the consent dialog from a tap, so this is called first thing in the tap handler;
// what the customer chose is recorded, and nothing about it ever stands in the way of paying.
function askSubscriptions(client, wx, templateIds) {
  if (!templateIds || !templateIds.length) return Promise.resolve(null);
  return new Promise((resolve) => {
    wx.requestSubscribeMessage({
      tmplIds: templateIds,
      success: (res) => {
        const choices = {};
        for (const id of templateIds) if (res[id]) choices[id] = res[id];
        client.post('/mp/subscriptions', choices, { loading: false, quiet: true }).catch(() => {});
        resolve(choices);
      },
      fail: () => resolve(null),
    });
  });
}

// wx.requestPayment with the server's params: 'paid', 'cancelled' (the customer closed the cashier;
// the order stays 待付款) or 'failed'.
function requestPayment(wx, payParams) {
  return new Promise((resolve) => {
    const params = Object.assign({}, payParams);
    delete params.appId; // the cashier takes the mini-program's own appid
    wx.requestPayment(Object.assign(params, {
      success: () => resolve('paid'),
      fail: (err) => resolve(/cancel/.test((err && err.errMsg) || '') ? 'cancelled' : 'failed'),
    }));
  });
}

function payParamsFor(client, orderNo) {
  return client.post(`/mp/orders/${encodeURIComponent(orderNo)}/pay`).then((answer) => answer.pay_params);
}

// After the cashier says paid, WeChat Pay's notification may reach the server a moment later; the order
// page should say 待发货, so it is asked a few times before giving up and showing what there is.
async function settledOrder(client, orderNo, { tries = 5, waitMs = 800 } = {}) {
  let order = null;
  for (let i = 0; i < tries; i += 1) {
    order = await client.get(`/mp/orders/${encodeURIComponent(orderNo)}`, undefined, { loading: i === 0 });
    if (order.status !== 'pending_payment') return order;
    await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
  return order;
}

const orders = {
  list: (client, params) => client.get('/mp/orders', query(params)),
  get: (client, orderNo) => client.get(`/mp/orders/${encodeURIComponent(orderNo)}`),
  cancel: (client, orderNo) => client.post(`/mp/orders/${encodeURIComponent(orderNo)}/cancel`),
  refund: (client, orderNo, reason) => client.post(`/mp/orders/${encodeURIComponent(orderNo)}/refund-request`, { reason }),
  confirm: (client, orderNo) => client.post(`/mp/orders/${encodeURIComponent(orderNo)}/confirm-receipt`),
};

module.exports = {
  PAGE_SIZE, products, categories, product, cart, placeOrder, addressFromWechat,
  subscriptionTemplates, askSubscriptions, recordOpen, rememberEntry, productSource, requestPayment, payParamsFor, settledOrder, orders,
};
