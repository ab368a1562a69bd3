// The SKU picker's logic: which spec values exist (尺码 × 颜色 or whatever the catalog uses), which of them
// can still be bought given what is already picked, and which SKU a full pick names.

const { yuan, priceRange } = require('./money');

// Size before colour, as the picker reads top to bottom; other spec names follow in catalog order.
const PREFERRED_ORDER = ['尺码', '颜色'];
// Below this many units the page says how many are left, to nudge and to warn.
const LOW_STOCK = 10;

function dimensionsOf(skus) {
  const names = [];
  const values = {};
  for (const sku of skus || []) {
    for (const [name, value] of Object.entries(sku.specs || {})) {
      if (!values[name]) {
        values[name] = [];
        names.push(name);
      }
      if (!values[name].includes(value)) values[name].push(value);
    }
  }
  const rank = (name) => {
    const at = PREFERRED_ORDER.indexOf(name);
    return at === -1 ? PREFERRED_ORDER.length + names.indexOf(name) : at;
  };
  return names.sort((a, b) => rank(a) - rank(b)).map((name) => ({ name, values: values[name] }));
}

function matches(sku, picked) {
  return Object.entries(picked).every(([name, value]) => !value || (sku.specs || {})[name] === value);
}

// The SKU a pick names, once every dimension has a value (a product without specs has its only SKU).
function skuFor(skus, picked) {
  const dims = dimensionsOf(skus);
  if (!dims.every((dim) => picked[dim.name])) return null;
  return (skus || []).find((sku) => matches(sku, picked)) || null;
}

// Everything the picker renders. A value is disabled when no SKU in stock has it together with the other
// values already picked: that is how an out-of-stock 尺码 × 颜色 combination is greyed out.
function pickerView(skus, picked) {
  const chosen = picked || {};
  const dims = dimensionsOf(skus).map((dim) => ({
    name: dim.name,
    options: dim.values.map((value) => {
      const others = Object.assign({}, chosen, { [dim.name]: value });
      const inStock = (skus || []).some((sku) => sku.stock > 0 && matches(sku, others));
      return { value, selected: chosen[dim.name] === value, disabled: !inStock };
    }),
  }));
  const sku = skuFor(skus, chosen);
  const missing = dims.filter((dim) => !chosen[dim.name]).map((dim) => dim.name);
  return {
    dims,
    sku,
    price: sku ? yuan(sku.price_fen) : priceRange(skus),
    stock: sku ? sku.stock : null,
    lowStock: !!sku && sku.stock > 0 && sku.stock <= LOW_STOCK,
    soldOut: sku ? sku.stock <= 0 : !(skus || []).some((s) => s.stock > 0),
    prompt: missing.length ? `请选择 ${missing.join(' / ')}` : `已选：${dims.map((d) => chosen[d.name]).join(' / ')}`,
  };
}

// Tapping a value picks it, tapping it again unpicks it; a disabled value cannot be picked.
function toggle(skus, picked, name, value) {
  const view = pickerView(skus, picked);
  const dim = view.dims.find((d) => d.name === name);
  const option = dim && dim.options.find((o) => o.value === value);
  if (!option || (option.disabled && !option.selected)) return picked;
  const next = Object.assign({}, picked);
  if (next[name] === value) delete next[name];
  else next[name] = value;
  return next;
}

// A product with one SKU, or only one value per dimension, starts fully picked.
function initialPick(skus) {
  const picked = {};
  for (const dim of dimensionsOf(skus)) {
    if (dim.values.length === 1) picked[dim.name] = dim.values[0];
  }
  return picked;
}

function specText(specs) {
  return Object.values(specs || {}).join(' / ');
}

module.exports = { dimensionsOf, skuFor, pickerView, toggle, initialPick, specText, LOW_STOCK };
