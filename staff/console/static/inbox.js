// The inbox: tabs with their counts, filters by group and tag, and the conversations of the chosen tab.
import { html, useEffect, useRef, useState } from './vendor/htm-3.1.1/preact/standalone.module.js';
import { CHANNEL, REASON, STATE, since, when } from './format.js';

function preview(item) {
  const summary = item.summary || {};
  const lines = summary.messages || [];
  const lastIn = [...lines].reverse().find((line) => line.direction === 'in');
  return (lastIn && lastIn.text) || summary.question || REASON[item.reason] || '';
}

function Item({ item, active, unread, now, open, showAgent }) {
  const waiting = item.state === 'queued'
    ? html`<span class="wait" title="排队等待">等待 ${since(item.queued_at, now)}</span>`
    : item.state === 'assigned' && item.awaiting_since
      ? html`<span class="wait soft" title="客户等待回复">待回复 ${since(item.awaiting_since, now)}</span>`
      : html`<span class="time">${when(item.resolved_at || item.last_customer_at || item.opened_at)}</span>`;
  return html`
    <li>
      <a href=${`#c/${item.id}`} class=${'item' + (active ? ' active' : '') + (unread ? ' unread' : '')}
        data-id=${item.id} onClick=${(e) => { e.preventDefault(); open(item.id); }}>
        <div class="item-top">
          ${unread && html`<span class="unread-dot" title="有未读消息" aria-label="未读"></span>`}
          <span class="who">${item.openid}</span>
          ${waiting}
        </div>
        <div class="item-preview">${preview(item)}</div>
        <div class="item-meta">
          <span class="chip">${item.group}</span>
          <span class="chip ghost">${CHANNEL[item.channel] || item.channel}</span>
          ${showAgent && item.agent && html`<span class="chip agent">${item.agent.display_name || item.agent.username}</span>`}
          ${showAgent && !item.agent && item.state !== 'resolved' && html`<span class="chip ghost">${STATE[item.state]}</span>`}
        </div>
      </a>
    </li>`;
}

export function Inbox({ tabs, tab, setTab, counts, items, total, filters, setFilters, groups, selected, open, seen, now }) {
  const [tag, setTag] = useState(filters.tag);
  // The box follows a filter set elsewhere, not the one it applied itself: effects run after paint, and
  // resetting the box then would wipe what was typed since (a second filter right after the first).
  const applied = useRef(filters.tag);
  useEffect(() => {
    if (filters.tag !== applied.current) setTag(filters.tag);
    applied.current = filters.tag;
  }, [filters.tag]);
  const applyTag = () => {
    const wanted = tag.trim();
    if (wanted === filters.tag) return;
    applied.current = wanted;
    setFilters({ ...filters, tag: wanted });
  };
  return html`
    <aside class="inbox">
      <nav class="tabs" role="tablist">
        ${tabs.map((t) => html`
          <button role="tab" class=${'tab' + (t.key === tab ? ' active' : '')} aria-selected=${t.key === tab}
            data-tab=${t.key} onClick=${() => setTab(t.key)}>
            ${t.label}<span class="count">${counts[t.key] ?? ''}</span>
          </button>`)}
      </nav>
      <div class="filters">
        <select id="group-filter" aria-label="按分组筛选" value=${filters.group}
          onChange=${(e) => setFilters({ ...filters, group: e.currentTarget.value })}>
          <option value="">全部分组</option>
          ${groups.map((g) => html`<option value=${g.name}>${g.name}</option>`)}
        </select>
        <input id="tag-filter" type="search" placeholder="按标签筛选" value=${tag}
          onInput=${(e) => setTag(e.currentTarget.value)} onChange=${applyTag}
          onKeyDown=${(e) => e.key === 'Enter' && applyTag()} />
      </div>
      <ul class="items" aria-label="会话列表">
        ${items.map((item) => html`
          <${Item} key=${item.id} item=${item} active=${item.id === selected} unread=${seen.isUnread(item)}
            now=${now} open=${open} showAgent=${tab === 'all' || tab === 'resolved'} />`)}
      </ul>
      ${items.length === 0 && html`<p class="empty">暂无会话</p>`}
      ${total > items.length && html`<p class="more muted">显示最早的 ${items.length} 个，共 ${total} 个</p>`}
    </aside>`;
}
