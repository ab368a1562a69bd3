// The console: who I am, the inbox, the open conversation and the live connection that keeps them current.
import { html, render, useCallback, useEffect, useMemo, useRef, useState } from './vendor/htm-3.1.1/preact/standalone.module.js';
import { ApiError, get, put, post, query, useCsrfToken, whenSignedOut } from './api.js';
import { SeenStore, chime, setBadge } from './alerts.js';
import { connectLive } from './live.js';
import { Inbox } from './inbox.js';
import { Conversation } from './conversation.js';
import { StatsView, SupervisorView } from './panels.js';
import { CampaignsView } from './campaigns.js';
import { OrdersView } from './orders.js';
import { CatalogView } from './catalog.js';
import { KbView } from './kb.js';
import { DashboardView } from './dashboard.js';
import { RulesView } from './rules.js';
import { hashParts } from './route.js';
import { ROLE, STATUS } from './format.js';

const OVERSEERS = new Set(['supervisor', 'admin']);
const MARKETERS = new Set(['marketer', 'admin']);
const ADMINS = new Set(['admin']);
const CHATTERS = new Set(['agent', 'supervisor', 'admin']);

// The pages that keep their place in the hash (#orders/…), in the header's order, and who sees each.
// Agents read orders (it helps a chat); the back office's other pages are the admins'.
const PAGES = [
  { key: 'campaigns', label: '营销活动', roles: MARKETERS, View: CampaignsView },
  { key: 'orders', label: '订单', roles: CHATTERS, View: OrdersView },
  { key: 'catalog', label: '商品', roles: ADMINS, View: CatalogView },
  { key: 'kb', label: '知识库', roles: ADMINS, View: KbView },
  { key: 'data', label: '数据', roles: ADMINS, View: DashboardView },
  { key: 'rules', label: '规则', roles: ADMINS, View: RulesView },
];
const pageFor = (key) => PAGES.find((page) => page.key === key);
const pagesOf = (role) => PAGES.filter((page) => page.roles.has(role));
const pageOfHash = (role) => pagesOf(role).find((page) => hashParts(page.key) !== null) || null;
const LIST_LIMIT = 100;
const POLL_WHEN_DOWN_MS = 5000;

export const TABS = [
  { key: 'queued', label: '排队中', params: { state: 'queued' } },
  { key: 'mine', label: '我的', params: { state: 'assigned', mine: 1 } },
  // 全部: every open conversation (queued, then assigned), as the counts route counts them; the list
  // route takes one state at a time.
  { key: 'all', label: '全部', params: {}, states: ['queued', 'assigned'], overseers: true },
  { key: 'resolved', label: '已解决', params: { state: 'resolved' } },
];

function toLogin() {
  location.replace('/console/login' + (location.hash || ''));
}

const onCampaignPage = () => hashParts('campaigns') !== null;
const onSomePage = () => PAGES.some((page) => hashParts(page.key) !== null);

// Switching views: pages keep their place in the hash (#campaigns/3), the other views leave it.
function showView(setView, key) {
  if (pageFor(key)) {
    if (hashParts(key) === null) location.hash = '#' + key;
  } else if (onSomePage()) {
    history.replaceState(null, '', location.pathname + location.search);
  }
  setView(key);
}

function selectedFromHash() {
  const match = /^#c\/(\d+)$/.exec(location.hash);
  return match ? Number(match[1]) : null;
}

const itemsOf = (page) => (page && (page.conversations || page.items)) || [];

// One tab's page of conversations: {conversations, total}, whatever states the tab covers.
async function loadTab(tab, params) {
  if (!tab.states) return get('/conversations' + query({ ...tab.params, ...params }));
  const pages = await Promise.all(tab.states.map((state) => get('/conversations' + query({ ...tab.params, ...params, state }))));
  return {
    conversations: pages.flatMap(itemsOf),
    total: pages.reduce((sum, page) => sum + page.total, 0),
  };
}

// Counts per tab: the counts route when the server has it, else each tab's list total.
async function loadCounts(filters, tabs, countsRoute) {
  if (countsRoute.available) {
    try {
      return await get('/conversations/counts' + query({ group: filters.group, tag: filters.tag }));
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 404) throw error;
      countsRoute.available = false;
    }
  }
  const totals = await Promise.all(tabs.map((tab) =>
    loadTab(tab, { group: filters.group, tag: filters.tag, limit: 1 }).then((p) => p.total)));
  return Object.fromEntries(tabs.map((tab, i) => [tab.key, totals[i]]));
}

function App({ me: initialMe }) {
  const [me, setMe] = useState(initialMe);
  const overseer = OVERSEERS.has(me.role);
  const tabs = useMemo(() => TABS.filter((tab) => !tab.overseers || overseer), [overseer]);
  const seen = useMemo(() => new SeenStore(me.username), [me.username]);
  const [view, setView] = useState(() => pageOfHash(me.role)?.key || 'inbox');
  const [tab, setTab] = useState('queued');
  const [filters, setFilters] = useState({ group: '', tag: '' });
  const [lists, setLists] = useState({ items: [], total: 0, mine: [] });
  const [counts, setCounts] = useState({});
  const [selected, setSelected] = useState(selectedFromHash());
  const [live, setLive] = useState('connecting');
  const [groups, setGroups] = useState([]);
  const [agents, setAgents] = useState([]);
  const [now, setNow] = useState(Date.now());
  const [toast, setToast] = useState(null);
  const [forbidden, setForbidden] = useState(false);
  const [, setSeenVersion] = useState(0);
  const [revision, setRevision] = useState({ detail: 0, stats: 0 });
  const countsRoute = useRef({ available: true });
  const knownMine = useRef(null);
  const listTicket = useRef(0);
  const state = useRef({});
  state.current = { tab, filters, selected, tabs };

  const notify = useCallback((text, kind = 'error') => {
    setToast({ text, kind, at: Date.now() });
  }, []);

  const refreshLists = useCallback(async () => {
    const { tab: current, filters: f, tabs: shown } = state.current;
    const spec = shown.find((t) => t.key === current) || shown[0];
    const base = { group: f.group, tag: f.tag, limit: LIST_LIMIT };
    // Refreshes overlap (a tab switch during a live burst); only the latest one may set the lists.
    const ticket = ++listTicket.current;
    try {
      const [page, minePage, tabCounts] = await Promise.all([
        loadTab(spec, base),
        spec.key === 'mine' ? null : get('/conversations' + query({ state: 'assigned', mine: 1, limit: LIST_LIMIT })),
        loadCounts(f, shown, countsRoute.current),
      ]);
      if (ticket !== listTicket.current) return;
      const mine = itemsOf(minePage || page);
      // A conversation in 我的 that was not there before was just assigned to me: chime.
      const ids = new Set(mine.map((item) => item.id));
      if (knownMine.current && mine.some((item) => !knownMine.current.has(item.id))) chime();
      knownMine.current = ids;
      setLists({ items: itemsOf(page), total: page.total, mine });
      setCounts(tabCounts);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      if (error instanceof ApiError && error.status === 403) {
        setForbidden(true); // a marketer's account: no conversations to show, nothing to retry
        return;
      }
      notify(`刷新会话列表失败：${error.message}`);
    }
  }, [notify]);

  const refreshDirectory = useCallback(async () => {
    try {
      const [g, a] = await Promise.all([get('/groups'), get('/agents')]);
      setGroups(g);
      setAgents(a);
    } catch (error) {
      const quiet = error instanceof ApiError && (error.status === 401 || error.status === 403);
      if (!quiet) notify(`读取分组失败：${error.message}`);
    }
  }, [notify]);

  // Live events arrive in bursts (a message, its delivery, an assignment): refreshes are gathered and
  // run once per 120 ms, well within the second the console promises.
  const pending = useRef({ lists: false, directory: false, detail: false, stats: false, timer: null });
  const schedule = useCallback((what) => {
    const p = pending.current;
    for (const key of what) p[key] = true;
    if (p.timer) return;
    p.timer = setTimeout(() => {
      const run = { ...p };
      Object.assign(p, { lists: false, directory: false, detail: false, stats: false, timer: null });
      if (run.lists) refreshLists();
      if (run.directory) refreshDirectory();
      if (run.detail || run.stats) {
        setRevision((r) => ({ detail: r.detail + (run.detail ? 1 : 0), stats: r.stats + (run.stats ? 1 : 0) }));
      }
    }, 120);
  }, [refreshLists, refreshDirectory]);

  const onEvent = useCallback((kind, data) => {
    const open = state.current.selected;
    const concernsOpen = open !== null && data.handoff_id === open;
    if (kind === 'handoff') schedule(concernsOpen ? ['lists', 'directory', 'detail'] : ['lists', 'directory']);
    else if (kind === 'message') schedule(concernsOpen ? ['lists', 'detail'] : ['lists']);
    else if (kind === 'delivery' || kind === 'note') {
      if (concernsOpen) schedule(['detail']);
    } else if (kind === 'agent') {
      schedule(['directory']);
      if (data.username === me.username) setMe((m) => ({ ...m, status: data.status, max_chats: data.max_chats }));
    } else if (kind === 'csat') schedule(concernsOpen ? ['stats', 'detail'] : ['stats']);
  }, [schedule, me.username]);

  useEffect(() => {
    const stop = connectLive({
      onEvent,
      onHello: () => schedule(['lists', 'directory', 'detail']),
      onState: setLive,
    });
    return stop;
  }, [onEvent, schedule]);

  // Without the live connection the console still works, a few seconds behind.
  useEffect(() => {
    if (live === 'live') return undefined;
    const timer = setInterval(() => schedule(['lists', 'directory', 'detail']), POLL_WHEN_DOWN_MS);
    return () => clearInterval(timer);
  }, [live, schedule]);

  useEffect(() => { refreshLists(); }, [tab, filters, refreshLists]);
  useEffect(() => { refreshDirectory(); }, [refreshDirectory]);

  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 15000);
    // A link to a page (#orders/…) or to a conversation (#c/12) switches the view too.
    const onHash = () => {
      const id = selectedFromHash();
      const page = pageOfHash(me.role);
      setSelected(id);
      if (page) setView(page.key);
      else if (id !== null) setView('inbox');
    };
    window.addEventListener('hashchange', onHash);
    return () => {
      clearInterval(timer);
      window.removeEventListener('hashchange', onHash);
    };
  }, [me.role]);

  useEffect(() => {
    setBadge(lists.mine.filter((item) => seen.isUnread(item)).length);
  });

  useEffect(() => {
    if (!toast) return undefined;
    const timer = setTimeout(() => setToast(null), 6000);
    return () => clearTimeout(timer);
  }, [toast]);

  const open = (id) => {
    location.hash = id === null ? '' : `#c/${id}`;
    setSelected(id);
    setView('inbox');
  };

  const markSeen = useCallback((id, lastMessageId, lastCustomerAt) => {
    if (seen.markSeen(id, lastMessageId, lastCustomerAt)) setSeenVersion((v) => v + 1);
  }, [seen]);

  const setStatus = async (status, maxChats) => {
    try {
      const updated = await put('/me/status', { status, max_chats: maxChats });
      setMe((m) => ({ ...m, ...updated }));
      schedule(['lists', 'directory']);
    } catch (error) {
      notify(`修改状态失败：${error.message}`);
    }
  };

  const logout = async () => {
    try {
      await post('/logout');
    } finally {
      location.replace('/console/login');
    }
  };

  return html`
    <div class=${'shell' + (selected !== null && view === 'inbox' ? ' has-selection' : '')}>
      <${Header} me=${me} view=${view} setView=${setView} overseer=${overseer} live=${live}
        setStatus=${setStatus} logout=${logout} />
      ${view === 'inbox' && forbidden && html`<main class="page"><p class="muted">你的角色不接待会话。</p></main>`}
      ${view === 'inbox' && !forbidden && html`
        <div class="workspace">
          <${Inbox} tabs=${tabs} tab=${tab} setTab=${setTab} counts=${counts} items=${lists.items} total=${lists.total}
            filters=${filters} setFilters=${setFilters} groups=${groups} selected=${selected} open=${open}
            seen=${seen} now=${now} />
          ${selected === null
            ? html`<section class="conversation empty-state"><p>从左侧选择一个会话</p></section>`
            : html`<${Conversation} key=${selected} id=${selected} me=${me} overseer=${overseer} revision=${revision.detail}
                groups=${groups} agents=${agents} now=${now} notify=${notify} close=${() => open(null)}
                markSeen=${markSeen} changed=${() => schedule(['lists', 'directory'])} />`}
        </div>`}
      ${view === 'stats' && html`<${StatsView} revision=${revision.stats} notify=${notify} />`}
      ${pagesOf(me.role).filter((page) => page.key === view).map(({ View, key }) => html`
        <${View} key=${key} me=${me} notify=${notify} />`)}
      ${view === 'supervise' && overseer && html`
        <${SupervisorView} groups=${groups} agents=${agents} items=${lists.items} now=${now} open=${open} />`}
      ${toast && html`<div class=${'toast ' + toast.kind} role="status">${toast.text}</div>`}
    </div>`;
}

// A marketer's console: campaigns only (no conversations, so no live connection and no availability).
function MarketingApp({ me }) {
  const [toast, setToast] = useState(null);
  const notify = useCallback((text, kind = 'error') => setToast({ text, kind, at: Date.now() }), []);
  useEffect(() => {
    if (!onCampaignPage()) history.replaceState(null, '', '#campaigns');
  }, []);
  useEffect(() => {
    if (!toast) return undefined;
    const timer = setTimeout(() => setToast(null), 6000);
    return () => clearTimeout(timer);
  }, [toast]);
  const logout = async () => {
    try {
      await post('/logout');
    } finally {
      location.replace('/console/login');
    }
  };
  return html`
    <div class="shell">
      <${Header} me=${me} view="campaigns" setView=${() => { location.hash = '#campaigns'; }} nav=${[['campaigns', '营销活动']]}
        logout=${logout} />
      <${CampaignsView} notify=${notify} />
      ${toast && html`<div class=${'toast ' + toast.kind} role="status">${toast.text}</div>`}
    </div>`;
}

function Header({ me, view, setView, overseer, live, setStatus, logout, nav: only }) {
  const [maxChats, setMaxChats] = useState(me.max_chats);
  useEffect(() => setMaxChats(me.max_chats), [me.max_chats]);
  const liveLabel = { live: '实时', connecting: '连接中', reconnecting: '重连中', down: '已断开' }[live];
  // `only`: a marketer's header, without conversations (no live connection, no availability to set).
  const chats = !only;
  const nav = only || [['inbox', '会话'], ['stats', '客服统计'], ...(overseer ? [['supervise', '监控']] : []),
    ...pagesOf(me.role).map((page) => [page.key, page.label])];
  const commitMax = () => {
    const value = Number(maxChats);
    if (Number.isInteger(value) && value >= 1 && value !== me.max_chats) setStatus(me.status, value);
    else setMaxChats(me.max_chats);
  };
  return html`
    <header class="topbar">
      <div class="brand">chatshop <span>客服台</span></div>
      <nav class="views">
        ${nav.map(([key, label]) => html`
          <button class=${'nav' + (view === key ? ' active' : '')} data-view=${key}
            onClick=${() => (chats ? showView(setView, key) : setView(key))}>${label}</button>`)}
      </nav>
      ${chats && html`<span class=${'live ' + live} title="实时连接">${liveLabel}</span>`}
      <div class="me">
        ${chats && html`<label class="status-field">
          <span class=${'dot ' + me.status}></span>
          <select id="my-status" aria-label="我的状态" value=${me.status}
            onChange=${(e) => setStatus(e.currentTarget.value, undefined)}>
            ${Object.entries(STATUS).map(([value, label]) => html`<option value=${value}>${label}</option>`)}
          </select>
        </label>
        <label class="max-chats">最多
          <input id="max-chats" type="number" min="1" max="20" value=${maxChats}
            onInput=${(e) => setMaxChats(e.currentTarget.value)} onChange=${commitMax}
            onKeyDown=${(e) => e.key === 'Enter' && commitMax()} /> 个会话
        </label>`}
        <span class="who" title=${me.username}>${me.display_name} · ${ROLE[me.role] || me.role}</span>
        <button id="logout" class="link" onClick=${logout}>退出</button>
      </div>
    </header>`;
}

async function start() {
  whenSignedOut(toLogin);
  let me;
  try {
    me = await get('/me');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return; // whenSignedOut went to the login page
    document.getElementById('app').textContent = `无法载入客服台：${error.message}`;
    return;
  }
  useCsrfToken(me.csrf_token);
  const root = document.getElementById('app');
  root.textContent = ''; // the loading line is not Preact's to replace
  render(me.role === 'marketer' ? html`<${MarketingApp} me=${me} />` : html`<${App} me=${me} />`, root);
}

start();
