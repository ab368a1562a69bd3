// The request wrapper against a small HTTP server standing in for chatshop: real sockets, real statuses.
const http = require('http');
const { createWx } = require('./wx-double');
const { createClient, TOKEN_KEY } = require('../utils/request');

let server;
let baseUrl;
const seen = [];
let validToken = 'tok-1';
let logins = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, auth: req.headers.authorization || '', body });
      const send = (status, data) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(data));
      };
      if (req.url === '/mp/login') {
        logins += 1;
        validToken = `tok-${logins}`;
        return send(200, { token: validToken, openid: 'o_x', expires_at: '2030-01-01T00:00:00Z' });
      }
      if (req.url.startsWith('/mp/products')) return send(200, { products: [], total: 0, url: req.url });
      if (req.headers.authorization !== `Bearer ${validToken}`) {
        return send(401, { error: { code: 'UNAUTHORIZED', message: 'not logged in', field: null } });
      }
      if (req.url === '/mp/cart') return send(200, { lines: [], quantity: 0, total_fen: 0 });
      if (req.url === '/mp/cart/items') return send(409, { error: { code: 'OUT_OF_STOCK', message: 'no', field: 'quantity' } });
      if (req.url === '/mp/boom') return send(500, { detail: 'x' });
      if (req.url === '/mp/checkout') {
        const { items } = JSON.parse(body);
        if (items[0].sku_id === 'pay-down') {
          return send(503, { error: { code: 'PAYMENT_UNAVAILABLE', message: 'later', field: null, order_no: '20260101000000000001' } });
        }
        if (items[0].sku_id === 'gone') return send(409, { error: { code: 'OUT_OF_STOCK', message: 'no', field: null, sku_id: 'gone' } });
        return send(201, { order_no: '20260101000000000002', amount_fen: 100, status: 'pending_payment', pay_params: { package: 'prepay_id=p' } });
      }
      return send(404, { error: { code: 'NOT_FOUND', message: 'none', field: null } });
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${server.address().port}`;
});

afterAll(() => new Promise((resolve) => server.close(resolve)));

function fresh() {
  const double = createWx();
  return Object.assign(double, { client: createClient({ wx: double.wx, baseUrl }) });
}

test('logs in once for concurrent calls and keeps the token', async () => {
  const { client, storage, calls } = fresh();
  const before = logins;
  const [a, b] = await Promise.all([client.get('/mp/cart'), client.get('/mp/cart')]);
  expect(a.total_fen).toBe(0);
  expect(b.total_fen).toBe(0);
  expect(logins - before).toBe(1);
  expect(JSON.parse(storage.get(TOKEN_KEY))).toBe(validToken);
  // one loading indicator for both, hidden at the end
  expect(calls.loading.filter((c) => c[0] === 'show')).toHaveLength(1);
  expect(calls.loading[calls.loading.length - 1]).toEqual(['hide']);
  expect(calls.toasts).toEqual([]);
});

test('a 401 renews the token and retries, silently', async () => {
  const { client, wx, calls } = fresh();
  wx.setStorageSync(TOKEN_KEY, 'stale');
  const before = logins;
  const cart = await client.get('/mp/cart');
  expect(cart.lines).toEqual([]);
  expect(logins - before).toBe(1);
  expect(wx.getStorageSync(TOKEN_KEY)).toBe(validToken);
  expect(calls.toasts).toEqual([]);
});

test('refusals become Chinese toasts and errors with the server code', async () => {
  const { client, calls } = fresh();
  await expect(client.post('/mp/cart/items', { sku_id: 'x', quantity: 9 })).rejects.toMatchObject({ status: 409, code: 'OUT_OF_STOCK' });
  await expect(client.get('/mp/boom')).rejects.toMatchObject({ status: 500 });
  expect(calls.toasts).toEqual(['库存不足，请调整数量', '服务器开小差了，请稍后再试']);
  expect(calls.loading[calls.loading.length - 1]).toEqual(['hide']);
});

test('quiet statuses are no toast; the catalog needs no login; GET data is the query', async () => {
  const { client, calls } = fresh();
  await expect(client.get('/mp/nothing', undefined, { quiet: [404] })).rejects.toMatchObject({ status: 404 });
  const before = logins;
  const page = await client.get('/mp/products', { q: '裙子', limit: 5 }, { auth: false });
  expect(page.url).toBe(`/mp/products?q=${encodeURIComponent('裙子')}&limit=5`);
  expect(logins).toBe(before);
  expect(calls.toasts).toEqual([]);
});

test('no server: a network toast', async () => {
  const double = createWx();
  const client = createClient({ wx: double.wx, baseUrl: 'http://127.0.0.1:9' });
  await expect(client.get('/mp/products', undefined, { auth: false })).rejects.toMatchObject({ status: 0 });
  expect(double.calls.toasts).toEqual(['网络不给力，请稍后再试']);
});

test('order notices: consent is asked for the listed templates and recorded; a failing list means none', async () => {
  const shop = require('../utils/shop');
  const { client, wx, calls } = fresh();
  expect(await shop.subscriptionTemplates(client, 'order')).toEqual([]); // this test server answers 404
  expect(calls.toasts).toEqual([]);
  const choices = await shop.askSubscriptions(client, wx, ['tpl-paid', 'tpl-shipped']);
  expect(choices).toEqual({ 'tpl-paid': 'accept', 'tpl-shipped': 'accept' });
  expect(calls.subscriptions).toEqual([['tpl-paid', 'tpl-shipped']]);
  await new Promise((r) => setTimeout(r, 50));
  const posted = seen.filter((r) => r.url === '/mp/subscriptions').pop();
  expect(JSON.parse(posted.body)).toEqual(choices);
  expect(calls.toasts).toEqual([]); // a failing ledger is no business of the customer's
});

test('the cashier outcomes: paid, cancelled, failed', async () => {
  const shop = require('../utils/shop');
  const { wx, script } = fresh();
  const params = { appId: 'wx1', timeStamp: '1', nonceStr: 'n', package: 'prepay_id=p', signType: 'RSA', paySign: 's' };
  expect(await shop.requestPayment(wx, params)).toBe('paid');
  script.pay = (p, done) => done('requestPayment:fail cancel');
  expect(await shop.requestPayment(wx, params)).toBe('cancelled');
  script.pay = (p, done) => done('requestPayment:fail (detail message)');
  expect(await shop.requestPayment(wx, params)).toBe('failed');
});

test('placeOrder sends just the chosen items, and touches the cart no more', async () => {
  const shop = require('../utils/shop');
  const { client } = fresh();
  const address = { name: '张三', phone: '13800138000', detail: '体育西路' };
  const from = seen.length;
  // Ticked cart lines: the items, nothing else (the server takes their lines out of the cart).
  const placed = await shop.placeOrder(client, [{ sku_id: 'a', quantity: 2, title: 'x' }, { sku_id: 'b', quantity: 1 }], address);
  expect(placed.order_no).toBe('20260101000000000002');
  // 立即购买: the one SKU, and the cart kept as it was.
  await shop.placeOrder(client, [{ sku_id: 'c', quantity: 3 }], address, { buyNow: true });
  const calls = seen.slice(from).filter((r) => r.url !== '/mp/login');
  expect(calls.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /mp/checkout', 'POST /mp/checkout']);
  expect(JSON.parse(calls[0].body)).toEqual({ address, items: [{ sku_id: 'a', quantity: 2 }, { sku_id: 'b', quantity: 1 }] });
  expect(JSON.parse(calls[1].body)).toEqual({ address, items: [{ sku_id: 'c', quantity: 3 }], keep_cart: true });
  // Placed but WeChat Pay down: the order_no, to be paid from the order page; a refusal is thrown.
  expect(await shop.placeOrder(client, [{ sku_id: 'pay-down', quantity: 1 }], address)).toEqual({ order_no: '20260101000000000001', pay_params: null });
  await expect(shop.placeOrder(client, [{ sku_id: 'gone', quantity: 1 }], address)).rejects.toMatchObject({ status: 409 });
  expect(seen.slice(from).filter((r) => r.url.startsWith('/mp/cart'))).toEqual([]);
});
