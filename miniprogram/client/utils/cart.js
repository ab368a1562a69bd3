// The cart page's arithmetic. The server's cart is the truth for lines and stock; which lines are ticked
// for checkout is the customer's choice on this phone, so it is kept beside it, by SKU.

const { yuan, sumFen } = require('./money');
const { specText } = require('./sku');

// Why a line cannot be bought as it stands, in the customer's words; '' when it can.
function problemOf(line) {
  if (line.available === false) return '已下架';
  if (line.in_stock <= 0) return '已售罄';
  if (line.in_stock < line.quantity) return `库存仅剩 ${line.in_stock} 件`;
  return '';
}

// deselected: sku_ids the customer unticked (new lines start ticked). A line with a problem cannot be
// ticked: checkout would refuse the whole order because of it.
function cartView(cart, deselected) {
  const off = new Set(deselected || []);
  const lines = ((cart && cart.lines) || []).map((line) => {
    const problem = problemOf(line);
    return Object.assign({}, line, {
      specText: specText(line.specs),
      priceText: yuan(line.price_fen),
      subtotalText: yuan(line.price_fen * line.quantity),
      problem,
      selected: !problem && !off.has(line.sku_id),
    });
  });
  const chosen = lines.filter((line) => line.selected);
  const totalFen = sumFen(chosen);
  const buyable = lines.filter((line) => !line.problem);
  return {
    lines,
    empty: lines.length === 0,
    selectedCount: chosen.reduce((n, line) => n + line.quantity, 0),
    totalFen,
    totalText: yuan(totalFen),
    allSelected: buyable.length > 0 && chosen.length === buyable.length,
    selectedItems: chosen.map((line) => ({ sku_id: line.sku_id, quantity: line.quantity })),
  };
}

function toggleSelected(deselected, skuId) {
  const off = new Set(deselected || []);
  if (off.has(skuId)) off.delete(skuId);
  else off.add(skuId);
  return Array.from(off);
}

// Tick all: nothing deselected. Untick all: every line deselected.
function selectAll(cart, on) {
  return on ? [] : ((cart && cart.lines) || []).map((line) => line.sku_id);
}

// Keeps a quantity within what the stepper may send: at least 1, at most what is in stock.
function clampQuantity(quantity, inStock) {
  const n = Math.floor(Number(quantity) || 1);
  const ceiling = Math.max(1, Number(inStock) || 1);
  return Math.min(Math.max(1, n), ceiling);
}

module.exports = { cartView, toggleSelected, selectAll, clampQuantity, problemOf };
