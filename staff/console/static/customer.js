// The customer beside the thread: channels, tags (add and remove), cart, latest orders, and the
// conversation's internal notes, which are kept apart from the messages because they never reach WeChat.
import { html, useState } from './vendor/htm-3.1.1/preact/standalone.module.js';
import { del, post } from './api.js';
import { CHANNEL, ORDER_STATUS, when, yuan } from './format.js';

function Tags({ customerId, tags, notify, reload }) {
  const [name, setName] = useState('');
  const add = async (e) => {
    e.preventDefault();
    const tag = name.trim();
    if (!tag) return;
    try {
      await post(`/customers/${customerId}/tags`, { name: tag });
      setName('');
      reload();
    } catch (error) {
      notify(`添加标签失败：${error.message}`);
    }
  };
  const remove = async (tag) => {
    try {
      await del(`/customers/${customerId}/tags/${encodeURIComponent(tag)}`);
      reload();
    } catch (error) {
      notify(`移除标签失败：${error.message}`);
    }
  };
  return html`
    <section class="panel-block">
      <h3>标签</h3>
      <ul class="tags" id="customer-tags">
        ${tags.map((t) => html`
          <li class="tag" data-tag=${t.name}>
            ${t.group && html`<span class="tag-group">${t.group}</span>`}${t.name}
            <button class="remove" title="移除标签" aria-label=${'移除标签 ' + t.name} onClick=${() => remove(t.name)}>×</button>
          </li>`)}
        ${tags.length === 0 && html`<li class="muted">暂无标签</li>`}
      </ul>
      <form class="inline-form" onSubmit=${add}>
        <input id="new-tag" placeholder="新标签" maxlength="30" value=${name} onInput=${(e) => setName(e.currentTarget.value)} />
        <button class="small" type="submit">添加</button>
      </form>
    </section>`;
}

function Notes({ notes, addNote }) {
  const [text, setText] = useState('');
  const submit = async (e) => {
    e.preventDefault();
    if (!text.trim()) return;
    if (await addNote(text.trim())) setText('');
  };
  return html`
    <section class="panel-block notes">
      <h3>内部备注 <span class="muted">客户看不到</span></h3>
      <ul id="notes">
        ${notes.map((n) => html`<li class="note"><div>${n.text}</div><div class="muted">${n.author} · ${when(n.at)}</div></li>`)}
      </ul>
      <form class="note-form" onSubmit=${submit}>
        <textarea id="note-text" rows="2" placeholder="写一条备注" value=${text} onInput=${(e) => setText(e.currentTarget.value)}></textarea>
        <button class="small" type="submit">添加备注</button>
      </form>
    </section>`;
}

export function CustomerPanel({ detail, notify, reload, addNote }) {
  const customer = detail.customer;
  const context = detail.context || { tags: [], cart: { lines: [], total_fen: 0 }, orders: [] };
  const channels = [customer, ...(detail.other_channels || [])];
  return html`
    <aside class="customer" aria-label="客户信息">
      <section class="panel-block">
        <h3>客户</h3>
        <dl class="facts">
          ${customer.nickname && html`<dt>昵称</dt><dd>${customer.nickname}</dd>`}
          ${channels.map((ch) => html`
            <dt>${CHANNEL[ch.channel] || ch.channel}</dt>
            <dd><code class="openid">${ch.openid}</code>${ch.channel === 'oa' && !ch.subscribed ? html` <span class="muted">未关注</span>` : ''}</dd>`)}
        </dl>
      </section>
      <${Tags} customerId=${customer.customer_id} tags=${context.tags} notify=${notify} reload=${reload} />
      <section class="panel-block">
        <h3>购物车 <span class="muted">${context.cart.lines.length ? yuan(context.cart.total_fen) : ''}</span></h3>
        <ul class="cart" id="cart">
          ${context.cart.lines.map((line) => html`
            <li class=${line.available ? '' : 'unavailable'}>
              <span class="title">${line.title}</span>
              <span class="muted">${Object.values(line.specs || {}).join(' / ')}</span>
              <span class="qty">${yuan(line.price_fen)} × ${line.quantity}</span>
            </li>`)}
          ${context.cart.lines.length === 0 && html`<li class="muted">购物车是空的</li>`}
        </ul>
      </section>
      <section class="panel-block">
        <h3>最近订单</h3>
        <ul class="orders" id="orders">
          ${context.orders.map((o) => html`
            <li data-order=${o.order_no}>
              <a class="order-no" title="打开订单" href=${'#orders/' + encodeURIComponent(o.order_no)}>${o.order_no}</a>
              <span class=${'order-status ' + o.status}>${ORDER_STATUS[o.status] || o.status}</span>
              <span class="amount">${yuan(o.amount_fen)}</span>
              <span class="muted">${when(o.created_at)}</span>
            </li>`)}
          ${context.orders.length === 0 && html`<li class="muted">暂无订单</li>`}
        </ul>
      </section>
      <${Notes} notes=${detail.notes || []} addNote=${addNote} />
    </aside>`;
}
