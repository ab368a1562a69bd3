const { formatFen, yuan, priceRange, sumFen } = require('../utils/money');
const sku = require('../utils/sku');
const cart = require('../utils/cart');
const orders = require('../utils/orders');

const SKUS = [
  { sku_id: 'd-S-white', specs: { 颜色: '米白', 尺码: 'S' }, price_fen: 25900, stock: 3 },
  { sku_id: 'd-M-white', specs: { 颜色: '米白', 尺码: 'M' }, price_fen: 25900, stock: 0 },
  { sku_id: 'd-S-blue', specs: { 颜色: '雾蓝', 尺码: 'S' }, price_fen: 26900, stock: 20 },
  { sku_id: 'd-M-blue', specs: { 颜色: '雾蓝', 尺码: 'M' }, price_fen: 26900, stock: 0 },
];

describe('money', () => {
  test('fen become yuan text without floating point', () => {
    expect(formatFen(0)).toBe('0.00');
    expect(formatFen(5)).toBe('0.05');
    expect(formatFen(25900)).toBe('259.00');
    expect(formatFen(-1999)).toBe('-19.99');
    expect(yuan(30)).toBe('¥0.30');
    expect(formatFen(1.5)).toBe('--');
  });
  test('a price range spans the SKUs', () => {
    expect(priceRange(SKUS)).toBe('¥259.00-269.00');
    expect(priceRange([SKUS[0]])).toBe('¥259.00');
  });
  test('sums are exact', () => {
    expect(sumFen([{ price_fen: 10, quantity: 3 }, { price_fen: 20, quantity: 1 }])).toBe(50);
    expect(formatFen(sumFen(Array(10).fill({ price_fen: 10, quantity: 1 })))).toBe('1.00');
  });
});

describe('sku picker', () => {
  test('dimensions put 尺码 before 颜色', () => {
    expect(sku.dimensionsOf(SKUS).map((d) => d.name)).toEqual(['尺码', '颜色']);
  });
  test('M is greyed out: no colour of it is in stock', () => {
    const view = sku.pickerView(SKUS, {});
    const sizes = view.dims[0].options;
    expect(sizes.find((o) => o.value === 'M').disabled).toBe(true);
    expect(sizes.find((o) => o.value === 'S').disabled).toBe(false);
    expect(view.sku).toBeNull();
    expect(view.prompt).toBe('请选择 尺码 / 颜色');
  });
  test('a full pick names the SKU, its price and low stock', () => {
    const picked = sku.toggle(SKUS, sku.toggle(SKUS, {}, '尺码', 'S'), '颜色', '米白');
    const view = sku.pickerView(SKUS, picked);
    expect(view.sku.sku_id).toBe('d-S-white');
    expect(view.price).toBe('¥259.00');
    expect(view.lowStock).toBe(true);
    expect(view.stock).toBe(3);
  });
  test('a disabled value cannot be picked, a picked one is unpicked', () => {
    expect(sku.toggle(SKUS, {}, '尺码', 'M')).toEqual({});
    expect(sku.toggle(SKUS, { 尺码: 'S' }, '尺码', 'S')).toEqual({});
  });
  test('single-valued dimensions start picked', () => {
    const one = [{ sku_id: 'x', specs: { 规格: '50ml' }, price_fen: 100, stock: 1 }];
    expect(sku.initialPick(one)).toEqual({ 规格: '50ml' });
    expect(sku.pickerView(one, sku.initialPick(one)).sku.sku_id).toBe('x');
  });
});

describe('cart', () => {
  const CART = {
    lines: [
      { sku_id: 'a', title: 'A', specs: { 尺码: 'S' }, price_fen: 1990, quantity: 2, in_stock: 5, available: true },
      { sku_id: 'b', title: 'B', specs: {}, price_fen: 1000, quantity: 1, in_stock: 0, available: true },
      { sku_id: 'c', title: 'C', specs: {}, price_fen: 333, quantity: 3, in_stock: 9, available: true },
      { sku_id: 'd', title: 'D', specs: {}, price_fen: 100, quantity: 1, in_stock: 9, available: false },
    ],
  };
  test('totals the ticked lines that can be bought, in fen', () => {
    const view = cart.cartView(CART, ['c']);
    expect(view.totalFen).toBe(3980);
    expect(view.totalText).toBe('¥39.80');
    expect(view.selectedCount).toBe(2);
    expect(view.selectedItems).toEqual([{ sku_id: 'a', quantity: 2 }]);
    expect(view.allSelected).toBe(false);
  });
  test('flags lines gone out of stock or off sale', () => {
    const view = cart.cartView(CART, []);
    expect(view.lines.map((l) => l.problem)).toEqual(['', '已售罄', '', '已下架']);
    expect(view.allSelected).toBe(true);
    expect(view.totalFen).toBe(1990 * 2 + 333 * 3);
  });
  test('selection toggles', () => {
    expect(cart.toggleSelected(['a'], 'a')).toEqual([]);
    expect(cart.toggleSelected([], 'a')).toEqual(['a']);
    expect(cart.selectAll(CART, false)).toEqual(['a', 'b', 'c', 'd']);
    expect(cart.clampQuantity(0, 5)).toBe(1);
    expect(cart.clampQuantity(9, 5)).toBe(5);
  });
});

describe('orders', () => {
  const mk = (status, extra) => Object.assign({ order_no: status, status, amount_fen: 100, refunded_fen: 0, items: [], refunds: [] }, extra);
  const ALL = ['pending_payment', 'paid', 'shipped', 'delivered', 'cancelled', 'refunding', 'refunded'].map((s) => mk(s));
  test('tabs filter by status', () => {
    expect(orders.filterOrders(ALL, 'pending').map((o) => o.status)).toEqual(['pending_payment']);
    expect(orders.filterOrders(ALL, 'to_ship').map((o) => o.status)).toEqual(['paid']);
    expect(orders.filterOrders(ALL, 'to_receive').map((o) => o.status)).toEqual(['shipped']);
    expect(orders.filterOrders(ALL, 'after_sale').map((o) => o.status)).toEqual(['refunding', 'refunded']);
    expect(orders.filterOrders(ALL, 'all')).toHaveLength(7);
    expect(orders.queryOf('to_ship')).toEqual({ status: 'paid' });
    expect(orders.queryOf('after_sale')).toEqual({});
  });
  test('actions follow the status', () => {
    expect(orders.actionsOf(mk('pending_payment'))).toEqual({ pay: true, cancel: true, confirm: false, refund: false });
    expect(orders.actionsOf(mk('shipped'))).toEqual({ pay: false, cancel: false, confirm: true, refund: true });
    expect(orders.actionsOf(mk('refunded', { refunded_fen: 100 })).refund).toBe(false);
  });
  test('the view speaks Chinese and yuan', () => {
    const view = orders.orderView(mk('paid', { amount_fen: 25900, items: [{ sku_id: 's', specs: { 尺码: 'S' }, price_fen: 25900, quantity: 1 }],
      address: { name: '张三', province: '广东省', detail: '体育西路' }, created_at: '2026-01-02T03:04:05Z', paid_at: '2026-01-02T03:05:00Z' }));
    expect(view.statusText).toBe('待发货');
    expect(view.amountText).toBe('¥259.00');
    expect(view.addressText).toBe('广东省 体育西路');
    expect(view.history.map((h) => h.title)).toEqual(['下单', '付款']);
  });
});
