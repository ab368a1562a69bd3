// 订单: every customer's orders (filters, search by order number, pages) and one order's page (items, amounts,
// payments, refunds, timeline, address, the customer and their conversation). Admins ship, refund (all or
// part) and decline refund requests from it; agents and supervisors read. Money is fen in the API, yuan here.
// The buyer's name, phone and address come masked; supervisors and admins reveal them (显示完整信息), saying
// why, and the server writes each reveal to its audit log.
// Routes live in the hash: #orders, #orders/<order_no>.
import { html, useCallback, useEffect, useState } from './vendor/htm-3.1.1/preact/standalone.module.js';
import { ApiError, get, post, query } from './api.js';
import { storeTime } from './campaigns.js';
import { Modal } from './dialogs.js';
import { CHANNEL, ORDER_STATUS, yuan } from './format.js';
import { go, useHashRoute } from './route.js';

const PAGE_SIZE = 20;
const NO_FILTERS = { order_no: '', status: '', from: '', to: '', customer: '', phone: '', min: '', max: '' };
// A whole phone number (the server finds it by its hash: a part of one finds nothing).
const PHONE = /^\+?[0-9][0-9 -]{4,23}$/;

const REFUND_STATUS = { pending: '待提交', processing: '退款中', succeeded: '已退款', failed: '退款失败' };
const PAYMENT_OUTCOME = { applied: '已入账', late_reserved: '超时后到账，已重新占库存', late_refunded: '超时后到账，已原路退回' };
const PAYMENT_SOURCE = { notify: '支付通知', query: '对账查询' };
// Who moved an order on its timeline (a member of staff is `staff:<username>`).
const ACTOR = { customer: '客户', wechatpay: '微信支付', scheduler: '系统', staff: '客服' };
// The commerce core's own reasons, in the console's words; a person's reason is shown as they wrote it.
const REASON = {
  placed: '下单',
  paid: '支付成功',
  shipped: '发货',
  delivered: '确认收货',
  completed: '交易完成',
  expired: '超时未支付，自动关闭',
  'cancelled by the customer': '客户取消',
  'fully refunded': '全额退款完成',
  'refund failed': '退款失败',
  'address changed': '修改收货地址',
  'paid after cancellation; stock reserved again': '关闭后到账，已重新占用库存',
};
const CARRIERS = ['顺丰速运', '京东物流', '中通快递', '圆通速递', '韵达快递', '申通快递', '极兔速递', 'EMS'];
const TRACKING_NO = /^[A-Za-z0-9-]{4,40}$/;

// '129', '129.5', '¥129.00' → 12900 fen, exactly (no floating point); null when it is not an amount of money.
export function fenOf(text) {
  const match = /^¥?\s*(\d{1,9})(?:\.(\d{1,2}))?$/.exec(String(text).trim());
  if (!match) return null;
  return Number(match[1]) * 100 + Number((match[2] || '').padEnd(2, '0'));
}

const plainYuan = (fen) => yuan(fen).replace('¥', '');

function actorName(actor) {
  if (!actor) return '—';
  if (actor.startsWith('staff:')) return actor.slice('staff:'.length);
  return ACTOR[actor] || actor;
}

function reasonText(reason) {
  const partly = /^partly refunded: (\d+) of (\d+) fen$/.exec(reason);
  if (partly) return `部分退款：共退 ${yuan(Number(partly[1]))} / ${yuan(Number(partly[2]))}`;
  return REASON[reason] || reason;
}

export function OrderBadge({ status }) {
  return html`<span class=${'badge order-' + status}>${ORDER_STATUS[status] || status}</span>`;
}

export function OrdersView({ me, notify }) {
  const parts = useHashRoute('orders');
  // The list's filters and page live here, so that coming back from an order finds the list as it was left.
  const [filters, setFilters] = useState(NO_FILTERS);
  const [offset, setOffset] = useState(0);
  const orderNo = parts[0] || null;
  return html`
    <main class="page orders" id="orders-view">
      ${orderNo
        ? html`<${OrderPage} key=${orderNo} orderNo=${orderNo} notify=${notify}
            showCustomer=${(openid) => { setFilters({ ...NO_FILTERS, customer: openid }); setOffset(0); go('orders'); }} />`
        : html`<${OrderList} filters=${filters} setFilters=${setFilters} offset=${offset} setOffset=${setOffset}
            notify=${notify} />`}
    </main>`;
}

// ----- the list -------------------------------------------------------------------------------------

// The filters as typed → the API's query, or the first problem with them.
function queryOf(filters) {
  const params = { status: filters.status, created_from: filters.from, created_to: filters.to };
  const number = filters.order_no.trim();
  if (number && !/^\d{1,20}$/.test(number)) return { problem: '订单号只含数字（可只输入前几位）' };
  params.order_no = number;
  const customer = filters.customer.trim();
  if (/^\d+$/.test(customer)) params.customer_id = customer;
  else params.openid = customer;
  const phone = filters.phone.trim();
  if (phone && !PHONE.test(phone)) return { problem: '手机号请输入完整号码，如 13800138000' };
  params.phone = phone;
  for (const [name, key] of [['min', 'min_fen'], ['max', 'max_fen']]) {
    if (!filters[name].trim()) continue;
    const fen = fenOf(filters[name]);
    if (fen === null) return { problem: '金额请填写元，最多两位小数，如 129.00' };
    params[key] = fen;
  }
  if (params.min_fen !== undefined && params.max_fen !== undefined && params.min_fen > params.max_fen) {
    return { problem: '最低金额大于最高金额' };
  }
  if (params.created_from && params.created_to && params.created_from > params.created_to) {
    return { problem: '开始日期晚于结束日期' };
  }
  return { params };
}

function OrderList({ filters, setFilters, offset, setOffset, notify }) {
  const [draft, setDraft] = useState(filters);
  const [page, setPage] = useState(null);
  const [problem, setProblem] = useState('');
  const load = useCallback(() => {
    const { params, problem: wrong } = queryOf(filters);
    if (wrong) return;
    get('/orders' + query({ ...params, limit: PAGE_SIZE, offset })).then(setPage, (error) => {
      if (error.status !== 401) notify(`读取订单失败：${error.message}`);
    });
  }, [filters, offset, notify]);
  useEffect(() => { load(); }, [load]);

  const set = (name) => (e) => setDraft((d) => ({ ...d, [name]: e.currentTarget.value }));
  const apply = (next) => {
    const { problem: wrong } = queryOf(next);
    setProblem(wrong || '');
    if (wrong) return;
    setFilters(next);
    setOffset(0);
  };
  const submit = (e) => { e.preventDefault(); apply(draft); };
  const reset = () => { setDraft(NO_FILTERS); apply(NO_FILTERS); };

  const total = page ? page.total : 0;
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const current = Math.floor(offset / PAGE_SIZE) + 1;
  const zone = page ? page.timezone : 'Asia/Shanghai';
  return html`
    <div class="page-head">
      <h2>订单 ${page && html`<span class="muted" id="orders-total">共 ${total} 单</span>`}</h2>
    </div>
    <form class="form-card order-filters" onSubmit=${submit}>
      <input id="order-search" class="mono" type="search" inputmode="numeric" placeholder="订单号（可只输入前几位）"
        value=${draft.order_no} onInput=${set('order_no')} aria-label="搜索订单号" />
      <select id="filter-status" value=${draft.status} onChange=${(e) => apply({ ...draft, status: e.currentTarget.value })}
        aria-label="订单状态">
        <option value="">全部状态</option>
        ${Object.entries(ORDER_STATUS).map(([key, label]) => html`<option value=${key}>${label}</option>`)}
      </select>
      <label class="filter-range">下单日期
        <input id="filter-from" type="date" value=${draft.from} onInput=${set('from')} aria-label="开始日期" />
        <span>至</span>
        <input id="filter-to" type="date" value=${draft.to} onInput=${set('to')} aria-label="结束日期" />
      </label>
      <input id="filter-customer" placeholder="客户 openid 或客户编号" value=${draft.customer} onInput=${set('customer')}
        aria-label="客户" />
      <input id="filter-phone" class="mono" type="search" inputmode="tel" placeholder="收货手机号（完整）"
        value=${draft.phone} onInput=${set('phone')} aria-label="收货手机号" />
      <label class="filter-range">金额 ¥
        <input id="filter-min" class="money" inputmode="decimal" placeholder="最低" value=${draft.min} onInput=${set('min')}
          aria-label="最低金额（元）" />
        <span>–</span>
        <input id="filter-max" class="money" inputmode="decimal" placeholder="最高" value=${draft.max} onInput=${set('max')}
          aria-label="最高金额（元）" />
      </label>
      <button id="apply-filters" type="submit" class="primary">查询</button>
      <button id="reset-filters" type="button" class="secondary" onClick=${reset}>重置</button>
      ${problem && html`<p class="field-error" id="filter-problem" role="alert">${problem}</p>`}
    </form>
    <table class="stats order-list">
      <thead><tr><th>订单号</th><th>商品</th><th>客户</th><th class="num">金额</th><th>状态</th><th>下单时间（${zone}）</th></tr></thead>
      <tbody>
        ${(page ? page.orders : []).map((o) => html`
          <tr data-order=${o.order_no} class="clickable" onClick=${() => go('orders', o.order_no)}>
            <td><a class="order-no" href=${'#orders/' + o.order_no}>${o.order_no}</a></td>
            <td>${o.description}${o.lines === 1 && o.quantity > 1 ? html` <span class="muted">× ${o.quantity}</span>` : ''}</td>
            <td><code class="openid">${o.openid}</code></td>
            <td class="num"><span class="amount">${yuan(o.amount_fen)}</span>
              ${o.refunded_fen > 0 && html`<div class="muted">已退 ${yuan(o.refunded_fen)}</div>`}</td>
            <td><${OrderBadge} status=${o.status} /></td>
            <td>${storeTime(o.created_at, zone)}</td>
          </tr>`)}
        ${page && page.orders.length === 0 && html`<tr><td colspan="6" class="muted">没有符合条件的订单</td></tr>`}
      </tbody>
    </table>
    ${total > PAGE_SIZE && html`
      <nav class="pager" aria-label="翻页">
        <button id="prev-page" class="secondary small" disabled=${offset === 0}
          onClick=${() => setOffset(Math.max(0, offset - PAGE_SIZE))}>上一页</button>
        <span id="page-number">第 ${current} / ${pages} 页</span>
        <button id="next-page" class="secondary small" disabled=${offset + PAGE_SIZE >= total}
          onClick=${() => setOffset(offset + PAGE_SIZE)}>下一页</button>
      </nav>`}`;
}

// ----- one order ------------------------------------------------------------------------------------

function OrderPage({ orderNo, notify, showCustomer }) {
  const [order, setOrder] = useState(null);
  const [missing, setMissing] = useState('');
  const [dialog, setDialog] = useState(null); // 'ship' | 'refund' | 'decline' | 'reveal'
  const [revealed, setRevealed] = useState(null); // the whole address, once revealed (never kept elsewhere)
  const load = useCallback(() => get(`/orders/${encodeURIComponent(orderNo)}`).then(setOrder, (error) => {
    if (error.status === 404) setMissing(error.message);
    else if (error.status !== 401) notify(`读取订单失败：${error.message}`);
  }), [orderNo, notify]);
  useEffect(() => { load(); }, [load]);

  // A move answers the order as it now is; a refusal (the state changed meanwhile) reloads it.
  const move = async (path, body, done) => {
    try {
      const answer = await post(`/orders/${encodeURIComponent(orderNo)}/${path}`, body);
      setOrder(answer.order || answer);
      setDialog(null);
      const told = done(answer);
      if (typeof told === 'string') notify(told, 'info');
      else notify(told.text, told.kind);
      return null;
    } catch (error) {
      if (error.status === 401) return null;
      if (error instanceof ApiError && error.status === 409) load();
      return error.message;
    }
  };

  // Revealing is the server's audited act: the whole address is shown only from its answer.
  const reveal = async (body) => {
    try {
      const answer = await post(`/orders/${encodeURIComponent(orderNo)}/address/reveal`, body);
      setRevealed(answer.address);
      setDialog(null);
      return null;
    } catch (error) {
      return error.status === 401 ? null : error.message;
    }
  };

  if (missing) return html`<div class="page-head"><h2>订单 ${orderNo}</h2><a href="#orders" class="back-link">全部订单</a></div>
    <p class="muted" id="order-missing">${missing}</p>`;
  if (!order) return html`<p class="muted">载入中…</p>`;
  const o = order;
  const zone = o.timezone;
  const inFlight = o.amount_fen - o.refunded_fen - o.refundable_fen;
  const addr = revealed || o.address;
  return html`
    <div class="page-head">
      <h2>订单 <span class="mono" id="order-title">${o.order_no}</span> <${OrderBadge} status=${o.status} /></h2>
      <a href="#orders" class="back-link">全部订单</a>
    </div>
    ${(o.moves.ship || o.moves.refund || o.moves.decline_refund) && html`
      <div class="order-actions">
        ${o.moves.ship && html`<button id="ship-order" class="primary" onClick=${() => setDialog('ship')}>发货</button>`}
        ${o.moves.refund && html`<button id="refund-order" class="secondary" onClick=${() => setDialog('refund')}>退款</button>`}
        ${o.moves.decline_refund && html`<button id="decline-refund" class="secondary danger-text" onClick=${() => setDialog('decline')}>拒绝退款</button>`}
      </div>`}
    ${o.status === 'refunding' && o.refund_reason && html`
      <p class="refund-request" id="refund-request">客户申请退款：${o.refund_reason}</p>`}
    <div class="order-grid">
      <section class="form-card order-money" id="order-money">
        <h3>金额</h3>
        <dl class="facts">
          <dt>订单金额</dt><dd class="amount" data-money="amount">${yuan(o.amount_fen)}</dd>
          <dt>已退款</dt><dd data-money="refunded">${yuan(o.refunded_fen)}</dd>
          ${inFlight > 0 && html`<dt>退款处理中</dt><dd data-money="in-flight">${yuan(inFlight)}</dd>`}
          <dt>可退金额</dt><dd data-money="refundable">${yuan(o.refundable_fen)}</dd>
        </dl>
      </section>
      <section class="form-card" id="order-customer">
        <h3>客户</h3>
        <dl class="facts">
          <dt>下单 openid</dt><dd><code class="openid">${o.openid}</code></dd>
          ${o.customer && html`
            <dt>${CHANNEL[o.customer.channel] || o.customer.channel}</dt>
            <dd><code class="openid">${o.customer.openid}</code> <span class="muted">客户编号 ${o.customer.customer_id}</span></dd>`}
        </dl>
        <p class="customer-links">
          ${o.customer && o.customer.conversation_id
            ? html`<a id="open-conversation" href=${'#c/' + o.customer.conversation_id}>查看会话</a>`
            : html`<span class="muted" id="no-conversation">暂无会话</span>`}
          <button class="link" id="customer-orders" onClick=${() => showCustomer(o.openid)}>该客户的全部订单</button>
        </p>
      </section>
      <section class="form-card" id="order-address">
        <h3>收货地址</h3>
        <p id="address-name">${addr.name} <span class="muted" id="address-phone">${addr.phone}</span></p>
        <p id="address-place">${[addr.province, addr.city, addr.district, addr.detail].filter(Boolean).join(' ')}
          ${addr.postal_code && html`<span class="muted"> ${addr.postal_code}</span>`}</p>
        ${revealed
          ? html`<p class="muted" id="address-revealed">完整信息（本次查看已记录）</p>`
          : o.may_reveal && html`<button class="link" id="reveal-address" onClick=${() => setDialog('reveal')}>显示完整信息</button>`}
        ${o.carrier && html`<p id="order-shipping">物流：${o.carrier} <code>${o.tracking_no}</code>
          <span class="muted">${storeTime(o.shipped_at, zone)} 发货</span></p>`}
      </section>
      <section class="form-card">
        <h3>时间</h3>
        <dl class="facts">
          <dt>下单</dt><dd>${storeTime(o.created_at, zone)}</dd>
          ${o.paid_at && html`<dt>付款</dt><dd>${storeTime(o.paid_at, zone)}</dd>`}
          ${o.shipped_at && html`<dt>发货</dt><dd>${storeTime(o.shipped_at, zone)}</dd>`}
          ${o.delivered_at && html`<dt>签收</dt><dd>${storeTime(o.delivered_at, zone)}</dd>`}
          ${o.completed_at && html`<dt>完成</dt><dd>${storeTime(o.completed_at, zone)}</dd>`}
          ${o.cancelled_at && html`<dt>关闭</dt><dd>${storeTime(o.cancelled_at, zone)}</dd>`}
          ${o.status === 'pending_payment' && html`<dt>支付截止</dt><dd>${storeTime(o.expires_at, zone)}</dd>`}
        </dl>
      </section>
    </div>

    <table class="stats order-items" id="order-items">
      <caption>商品</caption>
      <thead><tr><th>商品</th><th>规格</th><th class="num">单价</th><th class="num">数量</th><th class="num">小计</th></tr></thead>
      <tbody>
        ${o.items.map((i) => html`
          <tr><td>${i.title} <span class="muted">${i.sku_id}</span></td><td>${Object.values(i.specs || {}).join(' / ') || '—'}</td>
            <td class="num">${yuan(i.price_fen)}</td><td class="num">${i.quantity}</td><td class="num">${yuan(i.price_fen * i.quantity)}</td></tr>`)}
      </tbody>
    </table>

    <table class="stats" id="order-payments">
      <caption>支付记录</caption>
      <thead><tr><th>微信支付单号</th><th class="num">金额</th><th>支付时间</th><th>来源</th><th>结果</th></tr></thead>
      <tbody>
        ${o.payments.map((p) => html`
          <tr><td><code>${p.transaction_id}</code></td><td class="num">${yuan(p.amount_fen)}</td>
            <td>${storeTime(p.success_time || p.recorded_at, zone)}</td><td>${PAYMENT_SOURCE[p.source] || p.source}</td>
            <td>${PAYMENT_OUTCOME[p.outcome] || p.outcome}</td></tr>`)}
        ${o.payments.length === 0 && html`<tr><td colspan="5" class="muted">还没有付款</td></tr>`}
      </tbody>
    </table>

    <table class="stats" id="order-refunds">
      <caption>退款</caption>
      <thead><tr><th>退款单号</th><th class="num">金额</th><th>原因</th><th>经办</th><th>状态</th><th>申请时间</th><th>完成时间</th></tr></thead>
      <tbody>
        ${o.refunds.map((r) => html`
          <tr data-refund=${r.out_refund_no}><td><code>${r.out_refund_no}</code></td><td class="num">${yuan(r.amount_fen)}</td>
            <td>${r.reason}</td><td class="refund-by">${actorName(r.created_by)}</td>
            <td><span class=${'badge refund-' + r.status}>${REFUND_STATUS[r.status] || r.status}</span>
              ${r.error && html`<div class="muted">${r.error}</div>`}</td>
            <td>${storeTime(r.created_at, zone)}</td><td>${r.settled_at ? storeTime(r.settled_at, zone) : '—'}</td></tr>`)}
        ${o.refunds.length === 0 && html`<tr><td colspan="7" class="muted">没有退款</td></tr>`}
      </tbody>
    </table>

    <section class="order-timeline">
      <h3>订单记录</h3>
      <ol id="order-events">
        ${o.events.map((e) => html`
          <li data-to=${e.to_status}>
            <span class="time">${storeTime(e.created_at, zone)}</span>
            <span class="move">${e.from_status && e.from_status !== e.to_status
              ? html`${ORDER_STATUS[e.from_status] || e.from_status} → ` : ''}<b>${ORDER_STATUS[e.to_status] || e.to_status}</b></span>
            <span class="reason">${reasonText(e.reason)}</span>
            <span class="actor">${actorName(e.actor)}</span>
          </li>`)}
      </ol>
    </section>

    ${dialog === 'ship' && html`<${ShipDialog} close=${() => setDialog(null)}
      ship=${(body) => move('ship', body, (a) => `已发货：${a.carrier} ${a.tracking_no}`)} />`}
    ${dialog === 'refund' && html`<${RefundDialog} order=${o} close=${() => setDialog(null)}
      refund=${(body) => move('refund', body, refundOutcome)} />`}
    ${dialog === 'decline' && html`<${DeclineDialog} order=${o} close=${() => setDialog(null)}
      decline=${(body) => move('decline-refund', body, () => '已拒绝退款申请')} />`}
    ${dialog === 'reveal' && html`<${RevealDialog} close=${() => setDialog(null)} reveal=${reveal} />`}`;
}

// ----- dialogs --------------------------------------------------------------------------------------

// A dialog's form: submits once at a time and shows the server's refusal inside the dialog.
function useSubmit(send) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const submit = async (body) => {
    setBusy(true);
    setError('');
    const refused = await send(body);
    setBusy(false);
    if (refused) setError(refused);
  };
  return { busy, error, submit };
}

function ShipDialog({ close, ship }) {
  const [carrier, setCarrier] = useState('');
  const [tracking, setTracking] = useState('');
  const [checked, setChecked] = useState(false);
  const { busy, error, submit } = useSubmit(ship);
  const carrierProblem = !carrier.trim() ? '请填写快递公司' : carrier.trim().length > 40 ? '快递公司最多 40 个字' : '';
  const trackingProblem = TRACKING_NO.test(tracking.trim()) ? '' : '运单号为 4–40 位字母、数字或“-”';
  const onSubmit = (e) => {
    e.preventDefault();
    setChecked(true);
    if (carrierProblem || trackingProblem) return;
    submit({ carrier: carrier.trim(), tracking_no: tracking.trim() });
  };
  return html`
    <${Modal} title="发货" close=${close}>
      <form class="stack" onSubmit=${onSubmit} novalidate>
        <label for="ship-carrier">快递公司</label>
        <input id="ship-carrier" list="carriers" maxlength="40" value=${carrier} onInput=${(e) => setCarrier(e.currentTarget.value)} />
        <datalist id="carriers">${CARRIERS.map((c) => html`<option value=${c} />`)}</datalist>
        ${checked && carrierProblem && html`<p class="field-error">${carrierProblem}</p>`}
        <label for="ship-tracking">运单号</label>
        <input id="ship-tracking" class="mono" maxlength="40" value=${tracking} onInput=${(e) => setTracking(e.currentTarget.value)} />
        ${checked && trackingProblem && html`<p class="field-error">${trackingProblem}</p>`}
        ${error && html`<p class="form-error" id="dialog-error" role="alert">${error}</p>`}
        <div class="row-end">
          <button type="button" class="secondary" onClick=${close}>取消</button>
          <button id="ship-submit" type="submit" class="primary" disabled=${busy}>确认发货</button>
        </div>
      </form>
    <//>`;
}

// What became of a refund just made: WeChat Pay may take it, leave it for the refunds job, or refuse it
// at once (its reason is on the refund's row too).
function refundOutcome(answer) {
  const amount = yuan(answer.amount_fen);
  if (answer.refund_status === 'pending') return `已记录退款 ${amount}，稍后提交微信支付`;
  if (answer.refund_status === 'failed') {
    const made = (answer.order.refunds || []).find((r) => r.out_refund_no === answer.out_refund_no);
    return { text: `微信支付拒绝了退款 ${amount}：${(made && made.error) || '原因未知'}`, kind: 'error' };
  }
  if (answer.refund_status === 'succeeded') return `已退款 ${amount}`;
  return `已提交退款 ${amount}，等待微信支付到账`;
}

function RefundDialog({ order, close, refund }) {
  const left = order.refundable_fen;
  const [amount, setAmount] = useState(plainYuan(left));
  const [reason, setReason] = useState('');
  const [checked, setChecked] = useState(false);
  const { busy, error, submit } = useSubmit(refund);
  const fen = fenOf(amount);
  const amountProblem = fen === null ? '请填写金额（元），最多两位小数'
    : fen <= 0 ? '退款金额须大于 0'
      : fen > left ? `最多可退 ${yuan(left)}` : '';
  const reasonProblem = !reason.trim() ? '请填写退款原因（客户会在微信支付的退款通知里看到）'
    : reason.trim().length > 80 ? '退款原因最多 80 个字' : '';
  const onSubmit = (e) => {
    e.preventDefault();
    setChecked(true);
    if (amountProblem || reasonProblem) return;
    submit({ amount_fen: fen, reason: reason.trim() });
  };
  return html`
    <${Modal} title="退款" close=${close}>
      <form class="stack" onSubmit=${onSubmit} novalidate>
        <p class="muted">订单金额 ${yuan(order.amount_fen)}，已退 ${yuan(order.refunded_fen)}，可退 <b id="refund-left">${yuan(left)}</b>。
          全部退完后订单变为“已退款”；部分退款不改变订单状态。</p>
        <label for="refund-amount">退款金额（元）</label>
        <input id="refund-amount" class="money" inputmode="decimal" value=${amount} onInput=${(e) => setAmount(e.currentTarget.value)} />
        ${(checked || (amount && fen === null)) && amountProblem && html`<p class="field-error" id="refund-amount-error">${amountProblem}</p>`}
        <label for="refund-reason">退款原因</label>
        <input id="refund-reason" maxlength="80" value=${reason} onInput=${(e) => setReason(e.currentTarget.value)}
          placeholder="如：少发赠品，补偿部分货款" />
        ${checked && reasonProblem && html`<p class="field-error">${reasonProblem}</p>`}
        ${error && html`<p class="form-error" id="dialog-error" role="alert">${error}</p>`}
        <div class="row-end">
          <button type="button" class="secondary" onClick=${close}>取消</button>
          <button id="refund-submit" type="submit" class="primary" disabled=${busy}>
            确认退款${fen !== null && !amountProblem ? ' ' + yuan(fen) : ''}</button>
        </div>
      </form>
    <//>`;
}

function DeclineDialog({ order, close, decline }) {
  return html`
    <${ReasonDialog} title="拒绝退款申请" name="decline" label="拒绝理由" multiline=${true} max=${120}
      missing="请填写拒绝理由" tooLong="拒绝理由最多 120 个字" submitLabel="拒绝退款" submitClass="danger-fill"
      intro=${`客户的理由：${order.refund_reason || '—'}。拒绝后订单回到“${ORDER_STATUS[order.resume_status] || '原状态'}”，客户可以再次申请。`}
      close=${close} send=${decline} />`;
}

function RevealDialog({ close, reveal }) {
  return html`
    <${ReasonDialog} title="显示完整信息" name="reveal" label="查看原因" max=${200}
      missing="请填写查看原因（会记入查看记录）" tooLong="原因最多 200 个字" submitLabel="显示" submitClass="primary"
      intro="客户的姓名、手机号和详细地址只在需要时查看；每次查看都会记录查看人、时间和原因。"
      placeholder="如：客户来电核对收货地址" close=${close} send=${reveal} />`;
}

// A dialog that asks for a reason before an action (a declined refund, a reveal of personal data): the
// reason is required, trimmed and bounded, and the action's refusal is shown in the dialog.
function ReasonDialog({ title, name, label, intro, placeholder, multiline, max, missing, tooLong, submitLabel,
  submitClass, close, send }) {
  const [reason, setReason] = useState('');
  const [checked, setChecked] = useState(false);
  const { busy, error, submit } = useSubmit(send);
  const problem = !reason.trim() ? missing : reason.trim().length > max ? tooLong : '';
  const onSubmit = (e) => {
    e.preventDefault();
    setChecked(true);
    if (problem) return;
    submit({ reason: reason.trim() });
  };
  const onInput = (e) => setReason(e.currentTarget.value);
  return html`
    <${Modal} title=${title} close=${close}>
      <form class="stack" onSubmit=${onSubmit} novalidate>
        <p class="muted">${intro}</p>
        <label for=${`${name}-reason`}>${label}</label>
        ${multiline
          ? html`<textarea id=${`${name}-reason`} rows="3" maxlength=${max} value=${reason} onInput=${onInput}></textarea>`
          : html`<input id=${`${name}-reason`} maxlength=${max} value=${reason} onInput=${onInput} placeholder=${placeholder} />`}
        ${checked && problem && html`<p class="field-error">${problem}</p>`}
        ${error && html`<p class="form-error" id="dialog-error" role="alert">${error}</p>`}
        <div class="row-end">
          <button type="button" class="secondary" onClick=${close}>取消</button>
          <button id=${`${name}-submit`} type="submit" class=${submitClass} disabled=${busy}>${submitLabel}</button>
        </div>
      </form>
    <//>`;
}
