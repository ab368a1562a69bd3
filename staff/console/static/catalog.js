// 商品 (admins): the product list (search, category, on/off sale), one product with its SKUs edited in place
// (price in yuan, specs, stock on hand, on/off sale), new products and SKUs, and the catalog as a spreadsheet:
// 导出 downloads it (XLSX or CSV), 导入 checks a file into a row-by-row report before 确认导入 applies it.
// Routes live in the hash: #catalog, #catalog/<product id>.
import { html, useCallback, useEffect, useRef, useState } from './vendor/htm-3.1.1/preact/standalone.module.js';
import { ApiError, api, get, query } from './api.js';
import { useHashRoute, go } from './route.js';
import { yuan } from './format.js';

const PAGE_SIZE = 50;
const SEARCH_DELAY_MS = 250;
const IMPORT_MAX_BYTES = 2 * 1024 * 1024; // the import route's own limit
const YUAN_TEXT = /^\d{1,7}(\.\d{1,2})?$/;
const STOCK_RULE = '库存 = 可售 + 待付款订单占用。改库存填盘点到的实物件数：待付款订单占用的件数已承诺给顾客，库存不能少于它；订单付款后这些件数卖出，取消或超时后回到可售。';

// What an import would change, in the staff's words.
const CHANGE = {
  new_product: '新商品',
  new_sku: '新 SKU',
  title: '标题',
  category: '分类',
  description: '描述',
  images: '图片',
  product_on_sale: '商品上下架',
  specs: '规格',
  price_fen: '价格',
  stock: '库存',
  sku_on_sale: 'SKU 上下架',
};

const pad = (n) => String(n).padStart(2, '0');
// Fen as the yuan an input shows (no float arithmetic: 1999 → "19.99").
const yuanText = (fen) => `${Math.floor(fen / 100)}.${pad(fen % 100)}`;
const specsText = (specs) => Object.entries(specs || {}).map(([k, v]) => `${k}=${v}`).join(';');

// "颜色=红色;尺码=M" → {颜色: '红色', 尺码: 'M'}; null when a part is not name=value.
function parseSpecs(text) {
  const specs = {};
  for (const part of text.split(/[;；]/).map((p) => p.trim()).filter(Boolean)) {
    const at = part.search(/[=＝]/);
    if (at <= 0 || !part.slice(at + 1).trim()) return null;
    specs[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return specs;
}

function failed(notify, what, error) {
  if (!(error instanceof ApiError && error.status === 401)) notify(`${what}：${error.message}`);
}

function OnSale({ on }) {
  return html`<span class=${'badge ' + (on ? 'on-sale' : 'off-sale')}>${on ? '在售' : '已下架'}</span>`;
}

function Dialog({ title, close, wide, children }) {
  const panel = useRef(null);
  useEffect(() => {
    const onKey = (e) => e.key === 'Escape' && close();
    window.addEventListener('keydown', onKey);
    const first = panel.current && panel.current.querySelector('input, select, textarea, button');
    if (first) first.focus();
    return () => window.removeEventListener('keydown', onKey);
  }, []);
  return html`
    <div class="overlay" onMouseDown=${(e) => e.target === e.currentTarget && close()}>
      <div class=${'modal' + (wide ? ' modal-wide' : '')} role="dialog" aria-modal="true" aria-label=${title} ref=${panel}>
        <header><h3>${title}</h3><button class="link" onClick=${close} aria-label="关闭">×</button></header>
        ${children}
      </div>
    </div>`;
}

export function CatalogView({ me, notify }) {
  const parts = useHashRoute('catalog');
  const productId = parts[0] || null;
  return html`
    <main class="page catalog" id="catalog-view">
      ${productId
        ? html`<${ProductPage} key=${productId} id=${productId} notify=${notify} />`
        : html`<${ProductList} me=${me} notify=${notify} />`}
    </main>`;
}

// ----- the list -------------------------------------------------------------------------------------

function ProductList({ me, notify }) {
  const [filters, setFilters] = useState({ q: '', category: '', on_sale: '' });
  const [typed, setTyped] = useState('');
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState(null);
  const [dialog, setDialog] = useState(null); // 'import' | 'new'
  const load = useCallback(() => get('/catalog/products' + query({ ...filters, limit: PAGE_SIZE, offset }))
    .then(setPage, (error) => failed(notify, '读取商品失败', error)), [filters, offset, notify]);
  useEffect(() => { load(); }, [load]);
  useEffect(() => {
    const timer = setTimeout(() => { setFilters((f) => ({ ...f, q: typed.trim() })); setOffset(0); }, SEARCH_DELAY_MS);
    return () => clearTimeout(timer);
  }, [typed]);
  const filter = (key) => (e) => { setFilters((f) => ({ ...f, [key]: e.currentTarget.value })); setOffset(0); };
  const filtered = filters.q || filters.category || filters.on_sale;
  return html`
    <div class="page-head">
      <h2>商品 ${page && html`<span class="muted">共 ${page.total} 个</span>`}</h2>
      <a class="button secondary" id="export-xlsx" href="/staff/api/catalog/export?format=xlsx" download>导出 XLSX</a>
      <a class="button secondary" id="export-csv" href="/staff/api/catalog/export?format=csv" download>导出 CSV</a>
      <button id="import-catalog" class="secondary" onClick=${() => setDialog('import')}>导入</button>
      <button id="new-product" class="primary" onClick=${() => setDialog('new')}>新建商品</button>
    </div>
    <div class="catalog-filters">
      <input id="catalog-search" type="search" placeholder="搜索标题或编号" value=${typed}
        onInput=${(e) => setTyped(e.currentTarget.value)} />
      <select id="catalog-category" aria-label="分类" value=${filters.category} onChange=${filter('category')}>
        <option value="">全部分类</option>
        ${(page ? page.categories : []).map((c) => html`<option value=${c}>${c}</option>`)}
      </select>
      <select id="catalog-on-sale" aria-label="上下架" value=${filters.on_sale} onChange=${filter('on_sale')}>
        <option value="">在售和已下架</option>
        <option value="true">只看在售</option>
        <option value="false">只看已下架</option>
      </select>
    </div>
    <p class="stock-rule">${STOCK_RULE}</p>
    <table class="stats catalog-list">
      <thead><tr><th>商品</th><th>分类</th><th>SKU</th><th>价格</th><th class="num">库存</th>
        <th class="num">待付款占用</th><th class="num">可售</th><th>状态</th></tr></thead>
      <tbody>
        ${(page ? page.products : []).map((p) => html`
          <tr data-product=${p.id} class=${'clickable' + (p.on_sale ? '' : ' off')} onClick=${() => go('catalog', p.id)}>
            <td><a href=${'#catalog/' + encodeURIComponent(p.id)} class="product-title">${p.title}</a>
              <div class="muted mono">${p.id}</div></td>
            <td>${p.category}</td>
            <td>${p.skus_on_sale} / ${p.skus} 在售</td>
            <td>${p.price_min_fen === null ? '—' : p.price_min_fen === p.price_max_fen ? yuan(p.price_min_fen)
              : `${yuan(p.price_min_fen)} – ${yuan(p.price_max_fen)}`}</td>
            <td class="num" data-col="stock">${p.stock}</td>
            <td class="num" data-col="reserved">${p.reserved || html`<span class="muted">0</span>`}</td>
            <td class="num" data-col="available">${p.available}</td>
            <td><${OnSale} on=${p.on_sale} /></td>
          </tr>`)}
      </tbody>
    </table>
    ${page && page.products.length === 0 && html`
      <div class="empty catalog-empty">${filtered
        ? '没有符合条件的商品，换个关键词或分类试试。'
        : html`还没有商品。点 <b>新建商品</b> 逐个添加，或点 <b>导入</b> 上传一份表格（可先导出一份作模板）。`}</div>`}
    ${page && page.total > PAGE_SIZE && html`
      <div class="pager">
        <button class="secondary small" disabled=${offset === 0} onClick=${() => setOffset(Math.max(0, offset - PAGE_SIZE))}>上一页</button>
        <span class="muted">第 ${offset + 1}–${Math.min(offset + PAGE_SIZE, page.total)} 个，共 ${page.total} 个</span>
        <button class="secondary small" disabled=${offset + PAGE_SIZE >= page.total} onClick=${() => setOffset(offset + PAGE_SIZE)}>下一页</button>
      </div>`}
    ${dialog === 'import' && html`<${ImportDialog} me=${me} notify=${notify} close=${() => setDialog(null)}
      imported=${() => { setDialog(null); load(); }} />`}
    ${dialog === 'new' && html`<${NewProductDialog} categories=${page ? page.categories : []} notify=${notify}
      close=${() => setDialog(null)} />`}`;
}

// ----- one product ----------------------------------------------------------------------------------

function ProductPage({ id, notify }) {
  const [product, setProduct] = useState(null);
  const [missing, setMissing] = useState(false);
  const load = useCallback(() => get('/catalog/products/' + encodeURIComponent(id)).then(setProduct, (error) => {
    if (error instanceof ApiError && error.status === 404) setMissing(true);
    else failed(notify, '读取商品失败', error);
  }), [id, notify]);
  useEffect(() => { load(); }, [load]);
  const back = html`<a class="back-link" href="#catalog">← 商品列表</a>`;
  if (missing) return html`${back}<div class="empty">没有编号为 ${id} 的商品。</div>`;
  if (!product) return html`${back}<p class="muted">载入中…</p>`;
  return html`
    ${back}
    <div class="page-head">
      <h2 id="product-title">${product.title} <${OnSale} on=${product.on_sale} /></h2>
      <span class="muted mono">${product.id}</span>
    </div>
    <${ProductForm} product=${product} notify=${notify} saved=${setProduct} />
    <h3 class="section">SKU</h3>
    <p class="stock-rule">${STOCK_RULE}</p>
    <table class="stats sku-table">
      <thead><tr><th>SKU 编号</th><th>规格（名称=值，用 ; 分隔）</th><th>价格（元）</th><th>库存</th>
        <th class="num">待付款占用</th><th class="num">可售</th><th>在售</th><th></th></tr></thead>
      <tbody>
        ${product.skus.map((sku) => html`<${SkuRow} key=${sku.sku_id} sku=${sku} notify=${notify} reload=${load} />`)}
        <${NewSkuRow} productId=${product.id} notify=${notify} reload=${load} />
      </tbody>
    </table>`;
}

function ProductForm({ product, notify, saved }) {
  const initial = { title: product.title, category: product.category, description: product.description, on_sale: product.on_sale };
  const [form, setForm] = useState(initial);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const dirty = Object.keys(initial).some((k) => form[k] !== initial[k]);
  const set = (key) => (e) => setForm({ ...form, [key]: key === 'on_sale' ? e.currentTarget.checked : e.currentTarget.value });
  const save = async (e) => {
    e.preventDefault();
    setBusy(true);
    try {
      const changed = Object.fromEntries(Object.keys(initial).filter((k) => form[k] !== initial[k]).map((k) => [k, form[k]]));
      const updated = await api('PATCH', '/catalog/products/' + encodeURIComponent(product.id), changed);
      setError(null);
      saved(updated);
      notify('商品已保存', 'info');
    } catch (err) {
      setError(err.message);
      failed(notify, '保存商品失败', err);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <form class="form-card product-form" id="product-form" onSubmit=${save}>
      <label>标题<input id="product-title-input" maxlength="120" value=${form.title} onInput=${set('title')} /></label>
      <label>分类<input id="product-category" maxlength="40" value=${form.category} onInput=${set('category')} /></label>
      <label class="wide">描述<textarea id="product-description" rows="2" maxlength="2000" value=${form.description}
        onInput=${set('description')}></textarea></label>
      <label class="check"><input id="product-on-sale" type="checkbox" checked=${form.on_sale} onChange=${set('on_sale')} />
        在售（取消后顾客搜不到、也买不了这个商品）</label>
      <div class="row-end">
        ${error && html`<span class="form-error">${error}</span>`}
        <button type="button" class="secondary" disabled=${!dirty || busy} onClick=${() => { setForm(initial); setError(null); }}>还原</button>
        <button id="save-product" type="submit" class="primary" disabled=${!dirty || busy}>保存商品</button>
      </div>
    </form>`;
}

function skuDraft(sku) {
  return { specs: specsText(sku.specs), price: yuanText(sku.price_fen), stock: String(sku.stock), on_sale: sku.on_sale };
}

// What is wrong with a SKU's inputs before anything is sent: {field: message}.
function skuProblems(draft) {
  const problems = {};
  if (parseSpecs(draft.specs) === null) problems.specs = '规格写成 名称=值，用 ; 分隔，如 颜色=红色;尺码=M';
  if (!YUAN_TEXT.test(draft.price.trim()) || Number(draft.price) <= 0) problems.price = '价格须为大于 0 的金额，最多两位小数';
  if (!/^\d{1,7}$/.test(draft.stock.trim())) problems.stock = '库存须为不小于 0 的整数';
  return problems;
}

function SkuRow({ sku, notify, reload }) {
  const initial = skuDraft(sku);
  const [draft, setDraft] = useState(initial);
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState(false);
  // A reload brings new objects for every row: only a row whose saved values changed drops what is typed.
  const saved = JSON.stringify(sku);
  useEffect(() => setDraft(skuDraft(sku)), [saved]);
  const changed = (key) => draft[key] !== initial[key];
  const dirty = ['specs', 'price', 'stock', 'on_sale'].some(changed);
  const set = (key) => (e) => setDraft({ ...draft, [key]: key === 'on_sale' ? e.currentTarget.checked : e.currentTarget.value });
  const path = '/catalog/skus/' + encodeURIComponent(sku.sku_id);
  const save = async () => {
    const problems = skuProblems(draft);
    setErrors(problems);
    if (Object.keys(problems).length) return;
    setBusy(true);
    try {
      const patch = {};
      if (changed('specs')) patch.specs = parseSpecs(draft.specs);
      if (changed('price')) patch.price_yuan = draft.price.trim();
      if (changed('on_sale')) patch.on_sale = draft.on_sale;
      if (Object.keys(patch).length) await api('PATCH', path, patch);
      if (changed('stock')) await api('PUT', path + '/stock', { stock: Number(draft.stock) });
      notify(`SKU ${sku.sku_id} 已保存`, 'info');
      reload();
    } catch (error) {
      const field = error.detail && error.detail.field;
      const key = field === 'price_yuan' ? 'price' : field === 'stock' || field === 'specs' ? field : 'row';
      setErrors({ [key]: error.message });
      failed(notify, `保存 SKU ${sku.sku_id} 失败`, error);
      reload();
    } finally {
      setBusy(false);
    }
  };
  const onKey = (e) => { if (e.key === 'Enter') { e.preventDefault(); if (dirty) save(); } };
  const cell = (key, input) => html`<td class=${errors[key] ? 'invalid' : ''}>${input}
    ${errors[key] && html`<div class="field-error" data-error=${key}>${errors[key]}</div>`}</td>`;
  return html`
    <tr data-sku=${sku.sku_id} class=${sku.on_sale ? '' : 'off'}>
      <td class="mono">${sku.sku_id}${errors.row && html`<div class="field-error">${errors.row}</div>`}</td>
      ${cell('specs', html`<input class="specs-input" aria-label="规格" value=${draft.specs} onInput=${set('specs')} onKeyDown=${onKey} />`)}
      ${cell('price', html`<input class="price-input" aria-label="价格（元）" inputmode="decimal" value=${draft.price}
        onInput=${set('price')} onKeyDown=${onKey} />`)}
      ${cell('stock', html`<input class="stock-input" aria-label="库存" type="number" min=${sku.reserved} step="1" value=${draft.stock}
        onInput=${set('stock')} onKeyDown=${onKey} />`)}
      <td class="num" data-col="reserved">${sku.reserved}</td>
      <td class="num" data-col="available">${sku.available}</td>
      <td><input type="checkbox" class="sku-on-sale" aria-label="在售" checked=${draft.on_sale} onChange=${set('on_sale')} /></td>
      <td class="actions"><button class="primary small save-sku" disabled=${!dirty || busy} onClick=${save}>保存</button>
        ${dirty && html`<button class="link small" onClick=${() => { setDraft(initial); setErrors({}); }}>还原</button>`}</td>
    </tr>`;
}

function NewSkuRow({ productId, notify, reload }) {
  const empty = { sku_id: '', specs: '', price: '', stock: '0', on_sale: true };
  const [draft, setDraft] = useState(empty);
  const [errors, setErrors] = useState({});
  const set = (key) => (e) => setDraft({ ...draft, [key]: key === 'on_sale' ? e.currentTarget.checked : e.currentTarget.value });
  const add = async () => {
    const problems = skuProblems(draft);
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(draft.sku_id.trim())) problems.sku_id = 'SKU 编号为 1–64 个字母、数字、_ 或 -';
    setErrors(problems);
    if (Object.keys(problems).length) return;
    try {
      await api('POST', `/catalog/products/${encodeURIComponent(productId)}/skus`, {
        sku_id: draft.sku_id.trim(), specs: parseSpecs(draft.specs), price_yuan: draft.price.trim(),
        stock: Number(draft.stock), on_sale: draft.on_sale,
      });
      notify(`已添加 SKU ${draft.sku_id.trim()}`, 'info');
      setDraft(empty);
      reload();
    } catch (error) {
      const field = error.detail && error.detail.field;
      setErrors({ [field === 'price_yuan' ? 'price' : field || 'sku_id']: error.message });
      failed(notify, '添加 SKU 失败', error);
    }
  };
  const cell = (key, input) => html`<td class=${errors[key] ? 'invalid' : ''}>${input}
    ${errors[key] && html`<div class="field-error">${errors[key]}</div>`}</td>`;
  return html`
    <tr class="new-sku" id="new-sku">
      ${cell('sku_id', html`<input id="new-sku-id" placeholder="新 SKU 编号" value=${draft.sku_id} onInput=${set('sku_id')} />`)}
      ${cell('specs', html`<input id="new-sku-specs" placeholder="颜色=红色;尺码=M" value=${draft.specs} onInput=${set('specs')} />`)}
      ${cell('price', html`<input id="new-sku-price" class="price-input" placeholder="0.00" inputmode="decimal" value=${draft.price} onInput=${set('price')} />`)}
      ${cell('stock', html`<input id="new-sku-stock" class="stock-input" type="number" min="0" value=${draft.stock} onInput=${set('stock')} />`)}
      <td class="num muted">—</td><td class="num muted">—</td>
      <td><input type="checkbox" aria-label="在售" checked=${draft.on_sale} onChange=${set('on_sale')} /></td>
      <td class="actions"><button id="add-sku" class="secondary small" onClick=${add}>添加 SKU</button></td>
    </tr>`;
}

// ----- a new product --------------------------------------------------------------------------------

function NewProductDialog({ categories, notify, close }) {
  const [form, setForm] = useState({ id: '', title: '', category: '', description: '', sku_id: '', specs: '', price: '', stock: '0' });
  const [error, setError] = useState(null);
  const set = (key) => (e) => setForm({ ...form, [key]: e.currentTarget.value });
  const submit = async (e) => {
    e.preventDefault();
    const problems = Object.values(skuProblems(form));
    if (!form.id.trim() || !form.title.trim() || !form.category.trim() || !form.sku_id.trim()) problems.unshift('编号、标题、分类和 SKU 编号都要填');
    if (problems.length) { setError(problems[0]); return; }
    try {
      const created = await api('POST', '/catalog/products', {
        id: form.id.trim(), title: form.title.trim(), category: form.category.trim(), description: form.description.trim(),
        sku: { sku_id: form.sku_id.trim(), specs: parseSpecs(form.specs), price_yuan: form.price.trim(), stock: Number(form.stock) },
      });
      notify(`已新建商品 ${created.title}`, 'info');
      close();
      go('catalog', created.id);
    } catch (err) {
      setError(err.message);
    }
  };
  return html`
    <${Dialog} title="新建商品" close=${close}>
      <form class="stack new-product" onSubmit=${submit}>
        <label>商品编号<input id="new-product-id" placeholder="如 coat-wool（字母、数字、_ 或 -）" value=${form.id} onInput=${set('id')} /></label>
        <label>标题<input id="new-product-title" maxlength="120" value=${form.title} onInput=${set('title')} /></label>
        <label>分类<input id="new-product-category" list="catalog-categories" maxlength="40" value=${form.category} onInput=${set('category')} /></label>
        <datalist id="catalog-categories">${categories.map((c) => html`<option value=${c} />`)}</datalist>
        <label>描述<textarea rows="2" maxlength="2000" value=${form.description} onInput=${set('description')}></textarea></label>
        <fieldset class="first-sku"><legend>第一个 SKU</legend>
          <label>SKU 编号<input id="new-product-sku" value=${form.sku_id} onInput=${set('sku_id')} /></label>
          <label>规格<input placeholder="颜色=灰色;尺码=M" value=${form.specs} onInput=${set('specs')} /></label>
          <div class="row-2">
            <label>价格（元）<input id="new-product-price" inputmode="decimal" placeholder="0.00" value=${form.price} onInput=${set('price')} /></label>
            <label>库存<input type="number" min="0" value=${form.stock} onInput=${set('stock')} /></label>
          </div>
        </fieldset>
        ${error && html`<p class="form-error">${error}</p>`}
        <div class="row-end">
          <button type="button" class="secondary" onClick=${close}>取消</button>
          <button id="create-product" type="submit" class="primary">新建</button>
        </div>
      </form>
    <//>`;
}

// ----- import ---------------------------------------------------------------------------------------

// The file's bytes as the body (the route takes them as they are), with the session's CSRF token.
async function upload(bytes, csrfToken, apply) {
  const response = await fetch('/staff/api/catalog/import' + (apply ? '?apply=true' : ''), {
    method: 'POST', body: bytes, credentials: 'same-origin', cache: 'no-store',
    headers: { Accept: 'application/json', 'Content-Type': 'application/octet-stream', 'X-CSRF-Token': csrfToken || '' },
  });
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function changeValue(what, value) {
  if (value === null || value === undefined) return '—';
  if (what === 'price_fen') return yuan(value);
  if (what === 'new_sku') {
    const price = value.price_fen === null ? '价格有误' : yuan(value.price_fen);
    return [specsText(value.specs), price, value.stock === null ? '库存有误' : `库存 ${value.stock}`].filter(Boolean).join(' · ');
  }
  if (typeof value === 'boolean') return value ? '在售' : '下架';
  if (what === 'specs') return specsText(value) || '（无）';
  if (what === 'images') return `${value.length} 张`;
  if (value === '') return '（空）';
  return String(value);
}

function ImportReport({ report }) {
  const problems = report.problems;
  return html`
    <div class="import-report" id="import-report">
      <p class="import-summary">
        读取 ${report.format.toUpperCase()} 文件 ${report.rows} 行：新商品 <b data-count="new_products">${report.new_products}</b> 个，
        新 SKU <b data-count="new_skus">${report.new_skus}</b> 个，改动商品 <b data-count="changed_products">${report.changed_products}</b> 个，
        改动 SKU <b data-count="changed_skus">${report.changed_skus}</b> 个。
      </p>
      ${problems.length > 0 && html`
        <p class="form-error import-verdict">有 ${report.problem_count} 处问题，改好文件后重新选择；在此之前不会导入任何内容。</p>
        <table class="stats import-problems">
          <thead><tr><th>行</th><th>列</th><th>问题</th></tr></thead>
          <tbody>${problems.map((p) => html`
            <tr data-row=${p.row}><td>第 ${p.row} 行</td><td class="mono">${p.column || '—'}</td><td>${p.message}</td></tr>`)}
          </tbody>
        </table>`}
      ${problems.length === 0 && report.change_count === 0 && html`<p class="muted import-verdict">文件与现在的商品一致，没有要改的。</p>`}
      ${report.change_count > 0 && html`
        <h4>${problems.length ? '文件改好后将会' : '确认导入后将会'}：${report.change_count} 处变化</h4>
        <table class="stats import-changes">
          <thead><tr><th>行</th><th>商品</th><th>SKU</th><th>变化</th><th>原来</th><th>改为</th></tr></thead>
          <tbody>${report.changes.map((c) => html`
            <tr data-row=${c.row} data-what=${c.what}><td>${c.row}</td><td class="mono">${c.product_id}</td>
              <td class="mono">${c.sku_id || ''}</td><td>${CHANGE[c.what] || c.what}</td>
              <td>${c.what.startsWith('new_') ? '' : changeValue(c.what, c.before)}</td>
              <td>${changeValue(c.what, c.after)}</td></tr>`)}
          </tbody>
        </table>
        ${report.changes.length < report.change_count && html`<p class="muted">只列出前 ${report.changes.length} 处。</p>`}`}
    </div>`;
}

function ImportDialog({ me, notify, close, imported }) {
  const [file, setFile] = useState(null); // {name, bytes}
  const [report, setReport] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const choose = async (e) => {
    const chosen = e.currentTarget.files[0];
    setReport(null);
    setError(null);
    if (!chosen) return;
    if (chosen.size > IMPORT_MAX_BYTES) { setError('文件太大：一次最多导入 2 MB，请分成几个文件。'); return; }
    setBusy(true);
    try {
      const bytes = await chosen.arrayBuffer();
      setFile({ name: chosen.name, bytes });
      setReport(await upload(bytes, me.csrf_token, false));
    } catch (err) {
      setError(err.status === 413 ? '文件太大：一次最多导入 2 MB。' : `无法读取这个文件：${err.message}`);
    } finally {
      setBusy(false);
    }
  };
  const apply = async () => {
    setBusy(true);
    try {
      const done = await upload(file.bytes, me.csrf_token, true);
      notify(`已导入 ${file.name}：新商品 ${done.new_products} 个，新 SKU ${done.new_skus} 个，改动 SKU ${done.changed_skus} 个`, 'info');
      imported();
    } catch (err) {
      // Something changed since the check (a new order reserved units): show what the server found.
      const problems = (err.detail && err.detail.problems) || [];
      if (problems.length) setReport({ ...report, problems, problem_count: err.detail.problem_count });
      setError(`没有导入：${err.message}`);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <${Dialog} title="导入商品表格" close=${close} wide=${true}>
      <div class="stack">
        <p class="import-help">
          上传 XLSX 或 CSV（最大 2 MB），第一行为列名：<code>product_id, title, category, description, images, product_on_sale,
          sku_id, specs, price_yuan, stock, sku_on_sale</code>，一行一个 SKU。价格单位为元；stock 为库存（可售 + 待付款占用）；
          上下架填 是 或 否。表格里没有的商品和 SKU 保持不变。先<a href="/staff/api/catalog/export?format=xlsx" download>导出一份</a>改起来最方便。
        </p>
        <input id="import-file" type="file" accept=".xlsx,.csv,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
          onChange=${choose} disabled=${busy} />
        ${busy && html`<p class="muted">正在检查…</p>`}
        ${error && html`<p class="form-error" id="import-error">${error}</p>`}
        ${report && html`<${ImportReport} report=${report} />`}
        <div class="row-end">
          <button type="button" class="secondary" onClick=${close}>取消</button>
          <button id="confirm-import" class="primary" disabled=${busy || !report || !report.ok || report.change_count === 0}
            onClick=${apply}>确认导入</button>
        </div>
      </div>
    <//>`;
}
