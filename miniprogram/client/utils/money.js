// Money arrives from the server as integer fen; it is only ever turned into yuan text here, with integer
// arithmetic, so 0.1 + 0.2 never shows up on a price tag.

function formatFen(fen) {
  const value = Number(fen);
  if (!Number.isInteger(value)) return '--';
  const sign = value < 0 ? '-' : '';
  const abs = Math.abs(value);
  const cents = String(abs % 100).padStart(2, '0');
  return `${sign}${Math.floor(abs / 100)}.${cents}`;
}

function yuan(fen) {
  const text = formatFen(fen);
  return text === '--' ? text : `¥${text}`;
}

// "¥99.00" or "¥99.00-129.00": a product card shows what its SKUs cost, cheapest to dearest.
function priceRange(skus) {
  const prices = (skus || []).map((sku) => sku.price_fen).filter(Number.isInteger);
  if (!prices.length) return '--';
  const low = Math.min(...prices);
  const high = Math.max(...prices);
  return low === high ? yuan(low) : `${yuan(low)}-${formatFen(high)}`;
}

// The sum of price × quantity in fen; every term is an integer, so the total is exact.
function sumFen(lines) {
  return (lines || []).reduce((total, line) => total + line.price_fen * line.quantity, 0);
}

module.exports = { formatFen, yuan, priceRange, sumFen };
