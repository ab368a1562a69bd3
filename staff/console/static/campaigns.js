// 营销活动, the marketers' pages: the campaign list (progress of those sending, refreshed while they send),
// the form (live audience count, one input per template field with its rule, the message as WeChat shows it),
// and one campaign (pause / resume / cancel, and its results beside the holdout's, with charts).
// Routes live in the hash: #campaigns, #campaigns/new, #campaigns/<id>, #campaigns/<id>/edit.
import { html, useCallback, useEffect, useRef, useState } from './vendor/htm-3.1.1/preact/standalone.module.js';
import { ApiError, get, post, api } from './api.js';
import { ChartBox } from './charts.js';
import { CHANNEL, yuan } from './format.js';

const COUNT_DELAY_MS = 300; // the audience is counted once typing pauses this long
const PREVIEW_DELAY_MS = 200;
const REFRESH_MS = 1500; // while a campaign sends (or is about to start)
const DUE_SOON_MS = 60_000;

export const CAMPAIGN_STATE = {
  draft: '草稿',
  scheduled: '已排期',
  sending: '发送中',
  paused: '已暂停',
  done: '已完成',
  cancelled: '已取消',
};
const SKIP_REASON = {
  holdout: '对照组（不发送）',
  'opted out': '已退订',
  'no credit': '未授权订阅',
  cancelled: '活动取消',
  other: '其他',
};
// What a value of each WeChat field type may be (templates.RULES, in the console's words).
const RULE = {
  thing: (limit) => `最多 ${limit} 个字符`,
  number: () => '纯数字，最多 32 位',
  letter: () => '纯字母，最多 32 个',
  symbol: () => '符号，最多 5 个',
  character_string: () => '数字、字母或符号，最多 32 个，不含空格',
  time: () => '时间，如 2026-12-04 15:01，起止用 ~ 连接',
  date: () => '日期，如 2026-12-04，起止用 ~ 连接',
  amount: () => '币种符号加金额，如 ¥128.00',
  phone_number: () => '电话号码，最多 17 位',
  car_number: () => '车牌号，最多 8 个字符',
  name: () => '最多 10 个汉字或 20 个字母',
  phrase: () => '最多 5 个汉字',
};

export function ruleText(field) {
  const base = RULE[field.type] ? RULE[field.type](field.limit) : field.rule;
  return field.shorten ? `${base}，超出以“…”截断` : base;
}

// ----- the store's time zone ------------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, '0');

function partsIn(date, zone) {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
  }).formatToParts(date);
  const of = (type) => Number(parts.find((p) => p.type === type).value);
  return { year: of('year'), month: of('month'), day: of('day'), hour: of('hour'), minute: of('minute') };
}

function offsetMs(date, zone) {
  const p = partsIn(date, zone);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute) - Math.floor(date.getTime() / 60000) * 60000;
}

// '2026-12-10T10:00' read as the store's wall time → an ISO instant with its zone (what the API takes).
export function wallToIso(wall, zone) {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(wall);
  if (!match) return null;
  const [, y, mo, d, h, mi] = match.map(Number);
  const guess = Date.UTC(y, mo - 1, d, h, mi);
  let utc = guess - offsetMs(new Date(guess), zone);
  utc = guess - offsetMs(new Date(utc), zone); // the offset at the instant itself (a DST change between)
  return new Date(utc).toISOString();
}

export function isoToWall(iso, zone) {
  if (!iso) return '';
  const p = partsIn(new Date(iso), zone);
  return `${p.year}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}`;
}

export function storeTime(iso, zone) {
  if (!iso) return '—';
  const p = partsIn(new Date(iso), zone);
  const year = p.year === partsIn(new Date(), zone).year ? '' : `${p.year}年`;
  return `${year}${p.month}月${p.day}日 ${pad(p.hour)}:${pad(p.minute)}`;
}

// ----- shared pieces --------------------------------------------------------------------------------

function useHashRoute() {
  const read = () => {
    const match = /^#campaigns(?:\/(new|\d+)(?:\/(edit))?)?$/.exec(location.hash);
    if (!match || !match[1]) return { page: 'list' };
    if (match[1] === 'new') return { page: 'form', id: null };
    return { page: match[2] ? 'form' : 'detail', id: Number(match[1]) };
  };
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const onHash = () => setRoute(read());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  return route;
}

const go = (hash) => { location.hash = hash; };

function Badge({ state }) {
  return html`<span class=${'badge state-' + state}>${CAMPAIGN_STATE[state] || state}</span>`;
}

// Sent (green) and otherwise finished (skipped, failed: grey) recipients out of the planned audience.
export function ProgressBar({ progress, state }) {
  const total = progress.total;
  if (!total) {
    const idle = state === 'draft' || state === 'scheduled' || state === 'cancelled' ? '未开始' : '无受众';
    return html`<span class="muted progress-idle">${state === 'cancelled' ? '—' : idle}</span>`;
  }
  const pct = (n) => `${Math.min(100, (100 * n) / total)}%`;
  return html`
    <span class="progress-cell">
      <span class="progress" role="progressbar" aria-valuemin="0" aria-valuemax=${total} aria-valuenow=${progress.done}
        title=${`已处理 ${progress.done} / ${total}`}>
        <span class="progress-sent" style=${{ width: pct(progress.sent) }}></span>
        <span class="progress-other" style=${{ width: pct(progress.done - progress.sent) }}></span>
      </span>
      <span class="progress-text">已发送 ${progress.sent} / ${total}</span>
    </span>`;
}

// Whether a list or page should keep refreshing: something sends, or is about to start.
function busy(campaigns) {
  const soon = Date.now() + DUE_SOON_MS;
  return campaigns.some((c) => c.state === 'sending'
    || (c.state === 'scheduled' && c.scheduled_at && new Date(c.scheduled_at).getTime() <= soon));
}

function useTemplates(notify) {
  const [info, setInfo] = useState(null);
  useEffect(() => {
    get('/subscribe-templates?purpose=marketing').then(setInfo, (error) => {
      if (!(error instanceof ApiError && error.status === 401)) notify(`读取订阅消息模板失败：${error.message}`);
      setInfo({ timezone: 'Asia/Shanghai', templates: [] });
    });
  }, [notify]);
  return info;
}

export function CampaignsView({ notify }) {
  const route = useHashRoute();
  const info = useTemplates(notify);
  if (!info) return html`<main class="page campaigns"><p class="muted">载入中…</p></main>`;
  return html`
    <main class="page campaigns" id="campaigns-view">
      ${route.page === 'list' && html`<${CampaignList} info=${info} notify=${notify} />`}
      ${route.page === 'form' && html`<${CampaignForm} key=${route.id || 'new'} id=${route.id} info=${info} notify=${notify} />`}
      ${route.page === 'detail' && html`<${CampaignPage} key=${route.id} id=${route.id} info=${info} notify=${notify} />`}
    </main>`;
}

function templateName(info, id) {
  const found = info.templates.find((t) => t.id === id);
  return found ? `${found.title}（${CHANNEL[found.channel] || found.channel}）` : id;
}

// ----- the list -------------------------------------------------------------------------------------

function CampaignList({ info, notify }) {
  const [campaigns, setCampaigns] = useState(null);
  const load = useCallback(() => get('/campaigns').then((page) => setCampaigns(page.campaigns), (error) => {
    if (!(error instanceof ApiError && error.status === 401)) notify(`读取活动失败：${error.message}`);
  }), [notify]);
  useEffect(() => { load(); }, [load]);
  const refreshing = campaigns !== null && busy(campaigns);
  useEffect(() => {
    if (!refreshing) return undefined;
    const timer = setInterval(load, REFRESH_MS);
    return () => clearInterval(timer);
  }, [refreshing, load]);
  return html`
    <div class="page-head">
      <h2>营销活动 ${refreshing && html`<span class="muted refreshing">发送中，自动刷新</span>`}</h2>
      <button id="new-campaign" class="primary" onClick=${() => go('#campaigns/new')}>新建活动</button>
    </div>
    <table class="stats campaign-list">
      <thead><tr><th>活动</th><th>状态</th><th>受众</th><th>发送时间（${info.timezone}）</th><th>进度</th></tr></thead>
      <tbody>
        ${(campaigns || []).map((c) => html`
          <tr data-campaign=${c.id} class="clickable" onClick=${() => go(`#campaigns/${c.id}`)}>
            <td><a href=${`#campaigns/${c.id}`} class="campaign-name">${c.name}</a>
              <div class="muted">${templateName(info, c.template_id)} · ${c.created_by}</div></td>
            <td><${Badge} state=${c.state} /></td>
            <td><code>${c.audience}</code></td>
            <td>${c.scheduled_at ? storeTime(c.scheduled_at, info.timezone) : html`<span class="muted">未设定</span>`}</td>
            <td><${ProgressBar} progress=${c.progress} state=${c.state} /></td>
          </tr>`)}
        ${campaigns !== null && campaigns.length === 0 && html`
          <tr><td colspan="5" class="muted">还没有活动。点击“新建活动”，向打了标签的客户发送订阅消息。</td></tr>`}
      </tbody>
    </table>`;
}

// ----- the form -------------------------------------------------------------------------------------

const EMPTY = { name: '', audience: '', template_id: '', data: {}, at: '', throttle: '0', holdout: '0' };

function errorLine(error) {
  const position = error.detail && error.detail.position;
  // The parser's message ends "at position N" (0-based); the console says which character instead.
  const message = error.message.replace(/ at position \d+$/, '');
  return { message, position: typeof position === 'number' ? position : null };
}

function AudienceCount({ count, expression }) {
  if (!expression.trim()) return html`<p class="hint" id="audience-count">输入标签表达式，例如 <code>意向客户-连衣裙 AND NOT 已购-连衣裙</code>、<code>VIP OR 售后</code></p>`;
  if (!count) return html`<p class="hint" id="audience-count">统计中…</p>`;
  if (count.error) {
    const { position, message } = count.error;
    const at = position === null ? null : Math.min(position, expression.length);
    return html`
      <p class="field-error" id="audience-error" role="alert">
        表达式有误${at === null ? '' : `（第 ${at + 1} 个字符）`}：${message}
        ${at !== null && html`<br /><code class="expr">${expression.slice(0, at)}<mark>${expression.slice(at, at + 1) || ' '}</mark>${expression.slice(at + 1)}</code>`}
      </p>`;
  }
  return html`
    <p class="audience-count" id="audience-count" aria-live="polite">
      共 <strong data-count="total">${count.total}</strong> 人 ·
      可发送 <strong data-count="with_credit" class="ok">${count.with_credit}</strong> ·
      未授权 <strong data-count="without_credit">${count.without_credit}</strong> ·
      已退订 <strong data-count="opted_out">${count.opted_out}</strong>
    </p>`;
}

// What the customer sees in WeChat: a 服务通知 card.
export function NoticePreview({ template, lines, problem, zone }) {
  const now = storeTime(new Date().toISOString(), zone).split(' ')[1];
  return html`
    <div class="wx-phone" aria-label="消息预览">
      <div class="wx-bar">服务通知</div>
      <div class="wx-time">${now}</div>
      <div class="wx-card" id="notice-preview">
        <div class="wx-app"><span class="wx-logo">c</span> chatshop</div>
        <div class="wx-title">${template ? template.title : '选择模板'}</div>
        <dl class="wx-lines">
          ${lines.map((line) => html`
            <div class=${'wx-line' + (problem && problem.field === line.key ? ' bad' : '') + (line.empty ? ' empty' : '')}
              data-key=${line.key}>
              <dt>${line.label}</dt><dd>${line.value}</dd>
            </div>`)}
        </dl>
        <div class="wx-footer"><span>进入小程序查看</span><span class="wx-chevron">›</span></div>
      </div>
      ${problem && html`<p class="field-error preview-problem">${problem.text}</p>`}
    </div>`;
}

function CampaignForm({ id, info, notify }) {
  const zone = info.timezone;
  const [form, setForm] = useState(() => ({ ...EMPTY, template_id: info.templates[0] ? info.templates[0].id : '' }));
  const [loaded, setLoaded] = useState(id === null);
  const [locked, setLocked] = useState(null);
  const [count, setCount] = useState(null);
  const [checked, setChecked] = useState(null); // the server's preview: {data, lines} or {data, problem}
  const [errors, setErrors] = useState({});
  const [saving, setSaving] = useState(false);
  const countTicket = useRef(0);
  const previewTicket = useRef(0);
  const template = info.templates.find((t) => t.id === form.template_id) || null;

  useEffect(() => {
    if (id === null) return;
    get(`/campaigns/${id}`).then((c) => {
      setForm({ name: c.name, audience: c.audience, template_id: c.template_id, data: { ...c.data },
        at: isoToWall(c.scheduled_at, zone), throttle: String(c.throttle_per_s), holdout: String(c.holdout_pct) });
      if (c.state !== 'draft') setLocked(c.state);
      setLoaded(true);
    }, (error) => notify(`读取活动失败：${error.message}`));
  }, [id, zone, notify]);

  // The live count: once typing pauses, and only the latest answer is shown.
  useEffect(() => {
    const expression = form.audience;
    if (!expression.trim() || !form.template_id) { setCount(null); return undefined; }
    const ticket = ++countTicket.current;
    const timer = setTimeout(() => {
      post('/campaigns/audience', { audience: expression, template_id: form.template_id }).then((c) => {
        if (ticket === countTicket.current) setCount(c);
      }, (error) => {
        if (ticket !== countTicket.current) return;
        if (error instanceof ApiError && error.status === 422) setCount({ error: errorLine(error) });
        else if (error.status !== 401) setCount({ error: { message: error.message, position: null } });
      });
    }, COUNT_DELAY_MS);
    return () => clearTimeout(timer);
  }, [form.audience, form.template_id]);

  const data = template ? Object.fromEntries(template.fields.map((f) => [f.key, form.data[f.key] || ''])) : {};
  const dataKey = JSON.stringify([form.template_id, data]);
  useEffect(() => {
    if (!template) return undefined;
    const ticket = ++previewTicket.current;
    const timer = setTimeout(() => {
      post('/campaigns/preview', { template_id: template.id, data }).then((answer) => {
        if (ticket === previewTicket.current) setChecked({ key: dataKey, lines: answer.lines });
      }, (error) => {
        if (ticket !== previewTicket.current || error.status === 401) return;
        const field = error.detail && error.detail.field;
        setChecked({ key: dataKey, problem: { field, text: fieldProblem(template, field, error) } });
      });
    }, PREVIEW_DELAY_MS);
    return () => clearTimeout(timer);
  }, [dataKey]);

  // The card shows what was typed at once, and WeChat's version (shortened) once the server has checked it.
  const fresh = checked && checked.key === dataKey ? checked : null;
  const lines = template ? template.fields.map((f) => {
    const server = fresh && fresh.lines && fresh.lines.find((l) => l.key === f.key);
    const typed = (form.data[f.key] || '').trim();
    return { key: f.key, label: f.label, value: server ? server.value : typed || '—', empty: !typed };
  }) : [];
  const allTyped = template && template.fields.every((f) => (form.data[f.key] || '').trim());
  const problem = fresh && fresh.problem && (allTyped || (fresh.problem.field && (form.data[fresh.problem.field] || '').trim()))
    ? fresh.problem : null;

  const set = (name) => (e) => setForm((f) => ({ ...f, [name]: e.currentTarget.value }));
  const setField = (key) => (e) => {
    const value = e.currentTarget.value;
    setForm((f) => ({ ...f, data: { ...f.data, [key]: value } }));
  };

  const body = () => ({
    name: form.name.trim(),
    audience: form.audience.trim(),
    template_id: form.template_id,
    data,
    scheduled_at: form.at ? wallToIso(form.at, zone) : null,
    throttle_per_s: Number(form.throttle || 0),
    holdout_pct: Number(form.holdout || 0),
  });

  const save = async (andSchedule) => {
    setSaving(true);
    setErrors({});
    try {
      const saved = id === null ? await post('/campaigns', body()) : await api('PATCH', `/campaigns/${id}`, body());
      if (andSchedule) await post(`/campaigns/${saved.id}/schedule`, {});
      go(`#campaigns/${saved.id}`); // its page shows the new state
    } catch (error) {
      if (error.status === 401) return;
      const field = error.detail && error.detail.field;
      if (error.code === 'INVALID_TAG_EXPRESSION') setCount({ error: errorLine(error) });
      const text = template && template.fields.some((f) => f.key === field)
        ? fieldProblem(template, field, error) : error.message;
      setErrors({ [field || 'form']: text, form: `没有保存：${text}` });
    } finally {
      setSaving(false);
    }
  };

  if (!loaded) return html`<p class="muted">载入中…</p>`;
  if (locked) {
    return html`<p>这个活动${CAMPAIGN_STATE[locked]}，只有草稿可以修改。 <a href=${`#campaigns/${id}`}>查看活动</a></p>`;
  }
  const scheduleLabel = form.at ? '排期发送' : '立即发送';
  return html`
    <div class="page-head">
      <h2>${id === null ? '新建活动' : '编辑草稿'}</h2>
      <a href=${id === null ? '#campaigns' : `#campaigns/${id}`} class="back-link">返回</a>
    </div>
    <div class="campaign-form">
      <form class="form-card" onSubmit=${(e) => { e.preventDefault(); save(false); }}>
        <label for="campaign-name">活动名称 <span class="muted">仅内部可见，最多 60 字</span></label>
        <input id="campaign-name" maxlength="60" value=${form.name} onInput=${set('name')} placeholder="例如：冬季上新 第一波" />
        ${errors.name && html`<p class="field-error">${errors.name}</p>`}

        <label for="campaign-audience">受众（标签表达式） <span class="muted">AND、OR、NOT 和括号；含空格的标签加双引号</span></label>
        <input id="campaign-audience" class="mono" value=${form.audience} onInput=${set('audience')} maxlength="500"
          autocomplete="off" spellcheck="false" placeholder="意向客户-连衣裙 AND NOT 已购-连衣裙" />
        <${AudienceCount} count=${count} expression=${form.audience} />

        <label for="campaign-template">订阅消息模板</label>
        <select id="campaign-template" value=${form.template_id} onChange=${set('template_id')}>
          ${info.templates.map((t) => html`<option value=${t.id}>${t.title}（${CHANNEL[t.channel] || t.channel}） · ${t.id}</option>`)}
        </select>
        ${info.templates.length === 0 && html`<p class="field-error">没有营销用途的模板：请在订阅消息模板文件中添加 purpose: marketing 的模板。</p>`}

        ${template && html`
          <fieldset class="template-fields">
            <legend>消息内容</legend>
            ${template.fields.map((f) => {
              const value = form.data[f.key] || '';
              const over = f.limit && value.trim().length > f.limit;
              return html`
                <div class="template-field">
                  <label for=${'field-' + f.key}>${f.label} <span class="muted">${f.key}</span></label>
                  <input id=${'field-' + f.key} name=${f.key} value=${value} onInput=${setField(f.key)}
                    class=${(errors[f.key] || (problem && problem.field === f.key)) ? 'invalid' : ''}
                    placeholder=${f.type === 'time' ? '2026-12-10 10:00 ~ 2026-12-12 22:00' : ''} />
                  <p class="hint">${ruleText(f)}
                    ${f.type === 'thing' && html`<span class=${'counter' + (over ? (f.shorten ? ' warn' : ' bad') : '')}>${value.trim().length}/${f.limit}</span>`}</p>
                  ${errors[f.key] && html`<p class="field-error">${errors[f.key]}</p>`}
                </div>`;
            })}
          </fieldset>`}

        <div class="row-3">
          <div>
            <label for="campaign-at">发送时间 <span class="muted">门店时区 ${zone}</span></label>
            <input id="campaign-at" type="datetime-local" value=${form.at} onInput=${set('at')} />
            <p class="hint">留空：排期后立即开始发送</p>
          </div>
          <div>
            <label for="campaign-throttle">每秒最多发送</label>
            <input id="campaign-throttle" type="number" min="0" max="10000" value=${form.throttle} onInput=${set('throttle')} />
            <p class="hint">0 为不限速</p>
          </div>
          <div>
            <label for="campaign-holdout">对照组 %</label>
            <input id="campaign-holdout" type="number" min="0" max="50" value=${form.holdout} onInput=${set('holdout')} />
            <p class="hint">这部分客户不发送，用来衡量效果（0-50）</p>
          </div>
        </div>
        ${errors.form && html`<p class="form-error" id="form-error" role="alert">${errors.form}</p>`}
        <div class="row-end">
          <button type="submit" id="save-draft" class="secondary" disabled=${saving}>保存草稿</button>
          <button type="button" id="schedule-campaign" class="primary" disabled=${saving} onClick=${() => save(true)}>${scheduleLabel}</button>
        </div>
      </form>
      <aside class="preview-column">
        <h3>客户在微信里看到的样子</h3>
        <${NoticePreview} template=${template} lines=${lines} problem=${problem} zone=${zone} />
      </aside>
    </div>`;
}

function fieldProblem(template, field, error) {
  const found = template && template.fields.find((f) => f.key === field);
  if (!found) return error.message;
  const rule = (error.detail && error.detail.rule) || error.message;
  if (/must not be empty/.test(rule)) return `${found.label}：不能为空`;
  return `${found.label}：${ruleText({ ...found, shorten: false })}`;
}

// ----- one campaign ---------------------------------------------------------------------------------

const MOVES = {
  draft: [['schedule', '排期发送', 'primary']],
  scheduled: [['pause', '暂停', 'secondary']],
  sending: [['pause', '暂停', 'secondary']],
  paused: [['resume', '继续发送', 'primary']],
};
const CANCELLABLE = new Set(['draft', 'scheduled', 'sending', 'paused']);

function CampaignPage({ id, info, notify }) {
  const zone = info.timezone;
  const [campaign, setCampaign] = useState(null);
  const [report, setReport] = useState(null);
  const [confirming, setConfirming] = useState(false);
  const [moving, setMoving] = useState(false);
  const load = useCallback(() => Promise.all([get(`/campaigns/${id}`), get(`/campaigns/${id}/report`)]).then(([c, r]) => {
    setCampaign(c);
    setReport(r);
  }, (error) => {
    if (error.status !== 401) notify(`读取活动失败：${error.message}`);
  }), [id, notify]);
  useEffect(() => { load(); }, [load]);
  const refreshing = campaign !== null && busy([campaign]);
  useEffect(() => {
    if (!refreshing) return undefined;
    const timer = setInterval(load, REFRESH_MS);
    return () => clearInterval(timer);
  }, [refreshing, load]);

  const move = async (action) => {
    setMoving(true);
    try {
      setCampaign(await post(`/campaigns/${id}/${action}`, {}));
      setConfirming(false);
      await load();
    } catch (error) {
      if (error.status !== 401) notify(`操作失败：${error.message}`);
      await load();
    } finally {
      setMoving(false);
    }
  };

  if (!campaign) return html`<p class="muted">载入中…</p>`;
  const c = campaign;
  return html`
    <div class="page-head">
      <h2><span id="campaign-title">${c.name}</span> <${Badge} state=${c.state} /></h2>
      <a href="#campaigns" class="back-link">全部活动</a>
    </div>
    <section class="form-card campaign-summary">
      <div class="actions">
        ${c.state === 'draft' && html`<button id="edit-campaign" class="secondary" onClick=${() => go(`#campaigns/${id}/edit`)}>编辑</button>`}
        ${(MOVES[c.state] || []).map(([action, label, kind]) => html`
          <button id=${action + '-campaign'} class=${kind} disabled=${moving} onClick=${() => move(action)}>${label}</button>`)}
        ${CANCELLABLE.has(c.state) && !confirming && html`
          <button id="cancel-campaign" class="link danger" disabled=${moving} onClick=${() => setConfirming(true)}>取消活动</button>`}
        ${confirming && html`
          <span class="confirm">未发送的客户将不再发送，且不能恢复。
            <button id="confirm-cancel" class="danger-fill small" disabled=${moving} onClick=${() => move('cancel')}>确定取消</button>
            <button class="link small" onClick=${() => setConfirming(false)}>不取消</button></span>`}
      </div>
      <dl class="facts campaign-facts">
        <dt>受众</dt><dd><code>${c.audience}</code></dd>
        <dt>模板</dt><dd>${templateName(info, c.template_id)}</dd>
        <dt>发送时间</dt><dd>${c.scheduled_at ? `${storeTime(c.scheduled_at, zone)}（${zone}）` : '排期后立即发送'}</dd>
        <dt>限速 / 对照组</dt><dd>${c.throttle_per_s ? `每秒 ${c.throttle_per_s} 条` : '不限速'} · 对照组 ${c.holdout_pct}%</dd>
        <dt>创建</dt><dd>${c.created_by} · ${storeTime(c.created_at, zone)}</dd>
        ${c.started_at && html`<dt>开始 / 结束</dt><dd>${storeTime(c.started_at, zone)} — ${c.finished_at ? storeTime(c.finished_at, zone) : '进行中'}</dd>`}
      </dl>
      <div class="campaign-progress">
        <h3>进度 ${refreshing && html`<span class="muted refreshing">自动刷新</span>`}</h3>
        <${ProgressBar} progress=${c.progress} state=${c.state} />
        ${c.progress.total > 0 && html`<p class="hint">已处理 ${c.progress.done} / ${c.progress.total}：绿色为已发送，灰色为跳过或失败</p>`}
      </div>
    </section>
    ${report && report.audience !== null ? html`<${Results} report=${report} />`
      : html`<p class="muted">活动开始发送后，这里显示发送结果和转化效果。</p>`}`;
}

function Tile({ label, value, note, name }) {
  return html`<div class="tile" data-tile=${name}><div class="tile-value">${value}</div><div class="tile-label">${label}</div>
    ${note && html`<div class="tile-note">${note}</div>`}</div>`;
}

const rate = (group) => (group.customers ? (100 * group.buyers) / group.customers : 0);
const percent = (value) => `${value.toFixed(1)}%`;

function Results({ report }) {
  const skippedTotal = Object.values(report.skipped).reduce((a, b) => a + b, 0);
  const failedTotal = Object.values(report.failed).reduce((a, b) => a + b, 0);
  const groups = [['收到消息的客户', report.recipients], ['对照组（未发送）', report.holdout]];
  const outcome = {
    type: 'doughnut',
    data: {
      labels: ['已发送', ...Object.keys(report.skipped).map((r) => `跳过：${SKIP_REASON[r] || r}`),
        ...Object.keys(report.failed).map((code) => `失败：${code}`), ...(report.pending ? ['待发送'] : [])],
      datasets: [{
        data: [report.sent, ...Object.values(report.skipped), ...Object.values(report.failed), ...(report.pending ? [report.pending] : [])],
        backgroundColor: ['#07c160', ...Object.keys(report.skipped).map((_, i) => ['#c9cdd4', '#f5a623', '#8a9099', '#b0b6bf'][i % 4]),
          ...Object.keys(report.failed).map(() => '#d93026'), ...(report.pending ? ['#2f6fed'] : [])],
        borderWidth: 1,
      }],
    },
    options: { responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { position: 'right' }, title: { display: true, text: '发送结果' } } },
  };
  // One measure per chart axis: the share of each group that bought within 7 days.
  const lift = {
    type: 'bar',
    data: {
      labels: groups.map(([label]) => label),
      datasets: [{
        label: '下单转化率 %',
        data: groups.map(([, g]) => Number(rate(g).toFixed(1))),
        backgroundColor: ['#07c160', '#c9cdd4'],
      }],
    },
    options: { responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { display: false }, title: { display: true, text: '下单转化率 %：收到消息 vs 对照组（发送后 7 天）' } },
      scales: { y: { beginAtZero: true, suggestedMax: 10 } } },
  };
  return html`
    <section class="results" id="campaign-results">
      <h3>发送结果</h3>
      <div class="tiles">
        <${Tile} name="audience" label="受众" value=${report.audience} />
        <${Tile} name="sent" label="已发送" value=${report.sent} />
        <${Tile} name="skipped" label="跳过" value=${skippedTotal}
          note=${Object.entries(report.skipped).map(([r, n]) => `${SKIP_REASON[r] || r} ${n}`).join(' · ')} />
        <${Tile} name="failed" label="失败" value=${failedTotal}
          note=${Object.entries(report.failed).map(([code, n]) => `错误码 ${code}：${n}`).join(' · ')} />
        <${Tile} name="opens" label="打开小程序" value=${report.opens} note=${report.sent ? `打开率 ${percent((100 * report.opens) / report.sent)}` : ''} />
      </div>
      <div class="charts">
        <${ChartBox} box="chart-box" config=${outcome} label="发送结果" name="outcome" />
        ${report.holdout.customers > 0 ? html`<${ChartBox} box="chart-box" config=${lift} label="收到消息 vs 对照组" name="lift" />` : html`
          <div class="chart-box chart-note" data-chart="lift">
            <p><strong>没有对照组，无法衡量提升</strong></p>
            <p class="muted">这个活动的对照组为 0%，所有受众都参与了发送。下次可设 5–10% 的对照组：这部分客户不收消息，
              对比两组发送后 7 天的下单转化率，就能看出活动带来的提升。</p>
          </div>`}
      </div>
      <table class="stats conversions">
        <thead><tr><th></th><th>人数</th><th>下单人数</th><th>订单数</th><th>GMV</th><th>转化率</th></tr></thead>
        <tbody>
          ${groups.map(([label, g]) => html`
            <tr><td>${label}</td><td>${g.customers}</td><td>${g.buyers}</td><td>${g.orders}</td><td>${yuan(g.gmv_fen)}</td>
              <td>${g.customers ? percent(rate(g)) : '—'}</td></tr>`)}
        </tbody>
      </table>
      <p class="muted">订单与 GMV：活动开始后 7 天内付款的订单。</p>
    </section>`;
}

