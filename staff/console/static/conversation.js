// One conversation: its handoff summary, the thread of every channel with delivery states, WeChat's
// reply window, the reply box (canned replies, product cards), and the customer panel beside it.
import { html, useCallback, useEffect, useMemo, useRef, useState } from './vendor/htm-3.1.1/preact/standalone.module.js';
import { ApiError, get, post, query } from './api.js';
import { ACTOR, CHANNEL, DELIVERY, EVENT, REASON, RESOLUTION, STATE, clock, when } from './format.js';
import { wechatReason } from './wechat.js';
import { CustomerPanel } from './customer.js';
import { CannedManager, TransferDialog } from './dialogs.js';

const OUTBOUND_FAILURES = new Set(['refused', 'failed', 'in_doubt']);

function windowLine(window, now) {
  if (!window || !window.window_ends_at) return '';
  const ends = new Date(window.window_ends_at);
  const at = ends.toDateString() === new Date(now).toDateString() ? clock(window.window_ends_at) : when(window.window_ends_at);
  if (ends.getTime() <= now) return `回复窗口已于 ${at} 关闭`;
  const left = window.quota_left === null || window.quota_left === undefined ? '不限条数' : `还可发送 ${window.quota_left} 条`;
  return `${left}，窗口 ${at} 关闭`;
}

// Why the reply box is off, or null when the agent may write.
function replyBlock(detail, me, overseer, now) {
  const c = detail.conversation;
  if (c.state === 'resolved') return { text: '会话已解决，无法回复' };
  if (c.state === 'queued') return { text: '领取此会话后即可回复' };
  if (c.agent && c.agent.username !== me.username && !overseer) {
    return { text: `此会话由 ${c.agent.display_name || c.agent.username} 接待` };
  }
  const w = detail.reply_window || {};
  if (w.can_reply === false) {
    const refusal = w.reply_refusal || {};
    return { text: wechatReason(refusal.wechat_errcode) || '微信不允许此时回复', detail: refusal.message };
  }
  if (w.window_ends_at && new Date(w.window_ends_at).getTime() <= now) {
    return { text: wechatReason(45015), detail: "WeChat's reply window is closed: the customer must write first" };
  }
  return null;
}

function Summary({ conversation }) {
  const s = conversation.summary || {};
  const entities = s.entities || [];
  return html`
    <details class="summary" open>
      <summary>转人工摘要 · ${REASON[s.reason || conversation.reason] || s.reason || conversation.reason}</summary>
      <dl>
        ${s.intent && html`<dt>意图</dt><dd><code>${s.intent}</code></dd>`}
        ${entities.length > 0 && html`<dt>实体</dt><dd>${entities.map((e) => html`<span class="chip">${e.entity}：${e.value}</span>`)}</dd>`}
        ${s.question && html`<dt>问题</dt><dd class="question">${s.question}</dd>`}
      </dl>
    </details>`;
}

function Delivery({ message }) {
  if (message.direction !== 'out') return null;
  const failed = OUTBOUND_FAILURES.has(message.delivery);
  const label = DELIVERY[message.delivery] || message.delivery;
  if (!failed) return html`<span class=${'delivery ' + message.delivery}>${label}</span>`;
  const reason = message.error || wechatReason(message.error_code);
  return html`
    <span class=${'delivery ' + message.delivery} title=${message.error || ''}>
      ${label}${message.error_code ? html` · <code>${message.error_code}</code>` : ''}${reason ? ` ${reason}` : ''}
    </span>`;
}

function senderOf(message, names) {
  if (message.direction === 'in') return '客户';
  if (message.sent_by) return names[message.sent_by] || message.sent_by;
  return '机器人';
}

function Thread({ detail, names }) {
  const list = useRef(null);
  const entries = useMemo(() => {
    const rows = detail.messages.map((m) => ({ at: m.created_at, type: 'message', value: m }));
    for (const e of detail.events || []) rows.push({ at: e.at, type: 'event', value: e });
    return rows.sort((a, b) => new Date(a.at) - new Date(b.at));
  }, [detail]);
  const lastId = detail.messages.length ? detail.messages[detail.messages.length - 1].id : 0;
  // Follow the newest message, unless the agent scrolled up to read older ones.
  const pinned = useRef(true);
  useEffect(() => {
    const el = list.current;
    if (el && pinned.current) el.scrollTop = el.scrollHeight;
  }, [lastId, entries.length]);
  const onScroll = (e) => {
    const el = e.currentTarget;
    pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < 60;
  };
  return html`
    <ol class="thread" ref=${list} onScroll=${onScroll} aria-label="消息">
      ${detail.more_messages && html`<li class="system">更早的消息未显示</li>`}
      ${entries.map((row) => row.type === 'event'
        ? html`<li class="system" key=${'e' + row.value.id}>
            ${when(row.value.at)} · ${EVENT[row.value.kind] || row.value.kind}${row.value.group ? ` · ${row.value.group}` : ''}${row.value.actor ? ` · ${ACTOR[row.value.actor] || names[row.value.actor] || row.value.actor}` : ''}
          </li>`
        : html`<li key=${'m' + row.value.id} data-message-id=${row.value.id}
            class=${'msg ' + row.value.direction + (row.value.sent_by ? ' agent' : row.value.direction === 'out' ? ' bot' : '')
              + (OUTBOUND_FAILURES.has(row.value.delivery) ? ' problem' : '')}>
            <div class="bubble">${row.value.text}</div>
            <div class="msg-meta">
              <span class="sender">${senderOf(row.value, names)}</span>
              ${row.value.kind !== 'text' && html`<span class="kind">${row.value.kind}</span>`}
              <span class="channel">${CHANNEL[row.value.channel] || row.value.channel}</span>
              <time datetime=${row.value.created_at}>${when(row.value.created_at)}</time>
              <${Delivery} message=${row.value} />
            </div>
          </li>`)}
    </ol>`;
}

function priceOf(product) {
  const p = product.price_range;
  if (p === null || p === undefined) return '';
  if (typeof p === 'string') return p;
  const lo = p.min_fen ?? p.min;
  const hi = p.max_fen ?? p.max;
  const yuanText = (fen) => `¥${(fen / 100).toFixed(2)}`;
  return lo === hi || hi === undefined ? yuanText(lo) : `${yuanText(lo)} – ${yuanText(hi)}`;
}

function ProductPicker({ send, close }) {
  const [q, setQ] = useState('');
  const [found, setFound] = useState(null);
  const [problem, setProblem] = useState('');
  useEffect(() => {
    let cancelled = false;
    const timer = setTimeout(async () => {
      try {
        const products = await get('/products' + query({ q: q.trim(), limit: 8 }));
        if (!cancelled) { setFound(products); setProblem(''); }
      } catch (error) {
        if (!cancelled) setProblem(error.status === 404 ? '商品搜索暂不可用' : `搜索失败：${error.message}`);
      }
    }, 200);
    return () => { cancelled = true; clearTimeout(timer); };
  }, [q]);
  return html`
    <div class="picker" role="dialog" aria-label="发送商品卡片">
      <div class="picker-head">
        <input id="product-search" type="search" placeholder="搜索商品名称" value=${q} autofocus
          onInput=${(e) => setQ(e.currentTarget.value)} onKeyDown=${(e) => e.key === 'Escape' && close()} />
        <button class="link" onClick=${close}>关闭</button>
      </div>
      ${problem && html`<p class="form-error">${problem}</p>`}
      <ul class="products">
        ${(found || []).map((p) => html`
          <li class="product" data-product-id=${p.id}>
            ${p.image ? html`<img src=${p.image} alt="" loading="lazy" />` : html`<span class="noimg"></span>`}
            <div class="product-text"><div class="title">${p.title}</div><div class="muted">${p.category || ''} ${priceOf(p)}</div></div>
            <button class="small" onClick=${() => send(p)}>发送</button>
          </li>`)}
      </ul>
      ${found && found.length === 0 && html`<p class="muted">没有找到商品</p>`}
    </div>`;
}

function cannedToken(text, caret) {
  const match = /(^|\s)\/(\S*)$/.exec(text.slice(0, caret));
  return match ? { start: caret - match[2].length - 1, query: match[2] } : null;
}

function Composer({ block, sendText, sendCard, canned, manageCanned, overseer }) {
  const [text, setText] = useState('');
  const [caret, setCaret] = useState(0);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState(null);
  const [picking, setPicking] = useState(false);
  const [highlight, setHighlight] = useState(0);
  const box = useRef(null);
  const token = cannedToken(text, caret);
  const suggestions = token ? canned.filter((c) => c.shortcut.startsWith(token.query)).slice(0, 6) : [];

  const expand = (reply) => {
    const before = text.slice(0, token.start);
    const after = text.slice(caret);
    const next = before + reply.text + after;
    setText(next);
    const position = (before + reply.text).length;
    setCaret(position);
    requestAnimationFrame(() => {
      const el = box.current;
      if (el) { el.focus(); el.setSelectionRange(position, position); }
    });
  };

  const submit = async () => {
    const message = text.trim();
    if (!message || busy || block) return;
    setBusy(true);
    setProblem(null);
    try {
      await sendText(message);
      setText('');
      setCaret(0);
    } catch (error) {
      setProblem(refusalText(error));
    } finally {
      setBusy(false);
    }
  };

  const onKeyDown = (e) => {
    if (e.isComposing || e.keyCode === 229) return; // a Chinese input method is still composing
    if (suggestions.length) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const step = e.key === 'ArrowDown' ? 1 : -1;
        setHighlight((h) => (h + step + suggestions.length) % suggestions.length);
        return;
      }
      if (e.key === 'Tab' || (e.key === 'Enter' && !e.shiftKey)) {
        e.preventDefault();
        expand(suggestions[Math.min(highlight, suggestions.length - 1)]);
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      submit();
    }
  };

  const onInput = (e) => {
    setText(e.currentTarget.value);
    setCaret(e.currentTarget.selectionStart);
    setHighlight(0);
  };

  const pick = async (product) => {
    setProblem(null);
    try {
      await sendCard(product);
      setPicking(false);
    } catch (error) {
      setProblem(refusalText(error));
    }
  };

  return html`
    <div class=${'composer' + (block ? ' blocked' : '')}>
      ${block && html`<p class="reply-blocked" id="reply-blocked" role="note">${block.text}${block.detail ? html`<span class="muted"> （${block.detail}）</span>` : ''}</p>`}
      ${problem && html`<p class="form-error" id="reply-error" role="alert">${problem}</p>`}
      ${picking && !block && html`<${ProductPicker} send=${pick} close=${() => setPicking(false)} />`}
      ${suggestions.length > 0 && !block && html`
        <ul class="canned-suggestions" role="listbox" aria-label="快捷回复">
          ${suggestions.map((c, i) => html`
            <li role="option" aria-selected=${i === highlight} class=${i === highlight ? 'active' : ''}
              onMouseDown=${(e) => { e.preventDefault(); expand(c); }}>
              <b>/${c.shortcut}</b> <span>${c.text}</span>
            </li>`)}
        </ul>`}
      <textarea id="reply-text" ref=${box} rows="3" value=${text} disabled=${!!block || busy}
        placeholder=${block ? '' : '输入回复，Enter 发送，Shift+Enter 换行，输入 / 使用快捷回复'}
        onInput=${onInput} onKeyDown=${onKeyDown} onClick=${(e) => setCaret(e.currentTarget.selectionStart)}
        onKeyUp=${(e) => setCaret(e.currentTarget.selectionStart)}></textarea>
      <div class="composer-actions">
        <button id="pick-product" class="secondary" disabled=${!!block} onClick=${() => setPicking(!picking)}>商品卡片</button>
        ${overseer && html`<button id="manage-canned" class="link" onClick=${manageCanned}>管理快捷回复</button>`}
        <span class="spacer"></span>
        <button id="send-reply" class="primary" disabled=${!!block || busy || !text.trim()} onClick=${submit}>发送</button>
      </div>
    </div>`;
}

function refusalText(error) {
  if (error instanceof ApiError && error.code === 'REPLY_REFUSED') {
    const reason = wechatReason(error.detail.wechat_errcode);
    return reason ? `${reason}（${error.message}）` : error.message;
  }
  if (error instanceof ApiError && error.code === 'NOT_YOUR_CONVERSATION') return `不是你的会话：${error.message}`;
  return `发送失败：${error.message}`;
}

function newKey() {
  // Idempotency for a send the network may repeat; the server accepts [A-Za-z0-9_.:-].
  return 'c' + (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2));
}

export function Conversation({ id, me, overseer, revision, groups, agents, now, notify, close, markSeen, changed }) {
  const [detail, setDetail] = useState(null);
  const [missing, setMissing] = useState(null);
  const [local, setLocal] = useState(0);
  const [transferring, setTransferring] = useState(false);
  const [managing, setManaging] = useState(false);
  const [canned, setCanned] = useState([]);

  const ticket = useRef(0);
  const load = useCallback(async () => {
    const mine = ++ticket.current;
    try {
      const loaded = await get(`/conversations/${id}`);
      if (mine !== ticket.current) return; // a newer load is on its way
      setDetail(loaded);
      setMissing(null);
      const last = loaded.messages.length ? loaded.messages[loaded.messages.length - 1].id : 0;
      markSeen(id, last, loaded.conversation.last_customer_at);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) setMissing('会话不存在，或你无权查看');
      else if (!(error instanceof ApiError && error.status === 401)) notify(`载入会话失败：${error.message}`);
    }
  }, [id, markSeen, notify]);

  useEffect(() => { load(); }, [load, revision, local]);

  const loadCanned = useCallback(async () => {
    try {
      setCanned(await get('/canned-replies'));
    } catch {
      setCanned([]); // without the route the box simply has no shortcuts
    }
  }, []);
  useEffect(() => { loadCanned(); }, [loadCanned]);

  const refresh = () => { setLocal((n) => n + 1); changed(); };

  const act = async (label, path, body) => {
    try {
      await post(`/conversations/${id}/${path}`, body);
      refresh();
      return true;
    } catch (error) {
      notify(`${label}失败：${error.message}`);
      return false;
    }
  };

  if (missing) return html`<section class="conversation empty-state"><p>${missing}</p><button class="link" onClick=${close}>返回</button></section>`;
  if (!detail) return html`<section class="conversation empty-state"><p class="muted">载入中…</p></section>`;

  const c = detail.conversation;
  const names = Object.fromEntries(agents.map((a) => [a.username, a.display_name]));
  const block = replyBlock(detail, me, overseer, now);
  const send = async (body) => {
    try {
      await post(`/conversations/${id}/reply`, { ...body, client_key: newKey() });
    } catch (error) {
      // WeChat's window changed since the page last looked: show the box as it now is, with the refusal.
      if (error instanceof ApiError && error.code === 'REPLY_REFUSED') refresh();
      throw error;
    }
    refresh();
  };
  const sendText = (text) => send({ text });
  const sendCard = (product) => send({ product_id: product.id });
  const score = c.csat_score ?? detail.csat_score;
  const w = detail.reply_window || {};
  const wechatRefuses = w.can_reply === false || (w.window_ends_at && new Date(w.window_ends_at).getTime() <= now);
  const mineOrOverseen = c.agent && (c.agent.username === me.username || overseer);

  return html`
    <section class="conversation" data-conversation-id=${c.id}>
      <header class="conv-head">
        <button class="back link" onClick=${close} aria-label="返回列表">‹ 列表</button>
        <div class="conv-title">
          <h2>${detail.customer.openid}</h2>
          <div class="muted">
            <span class=${'state ' + c.state}>${STATE[c.state]}</span> · ${c.group}
            ${c.agent && html` · 接待：${c.agent.display_name || c.agent.username}`}
            ${c.resolution && html` · ${RESOLUTION[c.resolution] || c.resolution}`}
            ${score ? html` · <span class="csat" id="csat-score" title=${`客户评分 ${score}/5`}>满意度 ${'★'.repeat(score)}${'☆'.repeat(5 - score)}</span>` : ''}
          </div>
        </div>
        <div class="conv-actions">
          ${c.state === 'queued' && html`<button id="claim" class="primary" onClick=${() => act('领取', 'claim')}>领取</button>`}
          ${c.state !== 'resolved' && html`<button id="transfer" class="secondary" onClick=${() => setTransferring(true)}>转接</button>`}
          ${c.state === 'assigned' && mineOrOverseen && html`<button id="resolve" class="secondary" onClick=${() => act('解决', 'resolve')}>解决</button>`}
        </div>
      </header>
      <div class="conv-body">
        <div class="conv-main">
          <${Summary} conversation=${c} />
          <${Thread} detail=${detail} names=${names} />
          ${c.state !== 'resolved' && html`
            <div class=${'window-line' + (wechatRefuses ? ' closed' : '')} id="reply-window">${windowLine(detail.reply_window, now)}</div>`}
          <${Composer} key=${id} block=${block} sendText=${sendText} sendCard=${sendCard} canned=${canned}
            overseer=${overseer} manageCanned=${() => setManaging(true)} />
        </div>
        <${CustomerPanel} detail=${detail} notify=${notify} reload=${refresh}
          addNote=${(text) => act('添加备注', 'notes', { text })} />
      </div>
      ${transferring && html`<${TransferDialog} groups=${groups} agents=${agents} current=${c}
        close=${() => setTransferring(false)}
        transfer=${async (body) => { if (await act('转接', 'transfer', body)) setTransferring(false); }} />`}
      ${managing && html`<${CannedManager} canned=${canned} reload=${loadCanned} notify=${notify} close=${() => setManaging(false)} />`}
    </section>`;
}
