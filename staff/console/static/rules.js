// 规则与分组 (admins, read-only): the tag rules in force with their file's last reload and any error, the skill
// groups of the settings (intents, tag globs, hours, closed dates, kf account) and the KB file's status.
// The files are edited on the server (or, for the KB, on the 知识库 page); the service reloads them itself.
import { html, useCallback, useEffect, useState } from './vendor/htm-3.1.1/preact/standalone.module.js';
import { ApiError, get } from './api.js';
import { when, yuan } from './format.js';

const TRIGGER = {
  intent: '客户意图',
  faq_answered: '机器人回答了问答',
  card_opened: '打开或发送商品卡片',
  order_paid: '订单付款',
  refund_requested: '申请退款',
  order_total_at_least: '单笔订单金额达到',
};
const DAY = { mon: '周一', tue: '周二', wed: '周三', thu: '周四', fri: '周五', sat: '周六', sun: '周日' };

function condition(rule) {
  if (rule.when === 'intent') {
    const entities = rule.entities.length ? `，且提到 ${rule.entities.join(' 或 ')}` : '';
    return html`<code>${rule.intent}</code>${entities}`;
  }
  if (rule.when === 'faq_answered') return rule.category ? `分类「${rule.category}」` : '任意分类';
  if (rule.when === 'order_total_at_least') return yuan(rule.at_least_fen);
  return '';
}

function expiry(days) {
  if (days === null) return '长期';
  return Number.isInteger(days) ? `${days} 天` : `${Math.round(days * 24)} 小时`;
}

// mon-fri with the same hours are shown as one line: 周一至周五 09:00-21:00.
function hoursLines(hours) {
  const lines = [];
  for (const entry of hours) {
    const text = entry.intervals.length ? entry.intervals.join('，') : '休息';
    const last = lines[lines.length - 1];
    if (last && last.text === text) last.to = entry.day;
    else lines.push({ from: entry.day, to: entry.day, text });
  }
  return lines.map((l) => `${DAY[l.from]}${l.to !== l.from ? '至' + DAY[l.to] : ''} ${l.text}`);
}

function FileLine({ path, loadedAt, error, what }) {
  return html`
    <p class="rules-file">
      ${path ? html`文件 <code>${path}</code>` : html`<span class="muted">本服务没有配置${what}文件</span>`}
      ${loadedAt && html`<span class="muted">载入于 ${when(loadedAt)}</span>`}
      ${path && !error && html`<span class="ok-text">正常</span>`}
    </p>
    ${error && html`
      <p class="field-error rules-error" role="alert"><strong>文件的最新修改有错误，没有生效。</strong>当前仍在使用上次成功载入的${what}。<br />${error}</p>`}`;
}

export function RulesView({ me, notify }) {
  const [data, setData] = useState(null);
  const load = useCallback(() => get('/rules').then(setData, (error) => {
    if (!(error instanceof ApiError && error.status === 401)) notify(`读取规则失败：${error.message}`);
  }), [notify]);
  useEffect(() => { load(); }, [load]);
  if (!data) return html`<main class="page" id="rules-view"><p class="muted">载入中…</p></main>`;
  const tags = data.tag_rules;
  return html`
    <main class="page rules" id="rules-view">
      <div class="page-head">
        <h2>规则与分组</h2>
        <button id="rules-refresh" class="secondary small" onClick=${load}>刷新</button>
      </div>
      <p class="muted">这里只读。标签规则和知识库文件修改后约一秒内自动生效；客服分组在配置文件（config.yaml）里，修改后需要重启服务。</p>

      <section class="rules-section" id="tag-rules">
        <h3>标签规则 <span class="muted">${tags.rules.length} 条</span></h3>
        <${FileLine} path=${tags.path} loadedAt=${tags.loaded_at} error=${tags.last_error} what="标签规则" />
        <table class="stats rules-table">
          <thead><tr><th>行</th><th>什么时候</th><th>条件</th><th>打上标签</th><th>去掉标签</th><th>标签组</th><th>有效期</th><th>转人工</th></tr></thead>
          <tbody>
            ${tags.rules.map((rule) => html`
              <tr data-rule=${rule.line}>
                <td class="muted">${rule.line}</td>
                <td>${TRIGGER[rule.when] || rule.when}</td>
                <td>${condition(rule)}</td>
                <td>${rule.add.map((t) => html`<span class="chip">${t}</span>`)}</td>
                <td>${rule.remove.map((t) => html`<span class="chip ghost">${t}</span>`)}</td>
                <td>${rule.group || html`<span class="muted">—</span>`}</td>
                <td>${rule.add.length ? expiry(rule.expires_in_days) : html`<span class="muted">—</span>`}</td>
                <td>${rule.hand_off ? '是' : ''}</td>
              </tr>`)}
            ${tags.rules.length === 0 && html`<tr><td colspan="8" class="muted">没有标签规则：客户不会被自动打标签。</td></tr>`}
          </tbody>
        </table>
      </section>

      <section class="rules-section" id="skill-groups">
        <h3>客服分组 <span class="muted">营业时间按 ${data.timezone}</span></h3>
        <table class="stats rules-table">
          <thead><tr><th>分组</th><th>现在</th><th>按意图转入</th><th>按客户标签转入</th><th>营业时间</th><th>休息日</th><th>微信客服账号</th></tr></thead>
          <tbody>
            ${data.skill_groups.map((g, index) => html`
              <tr data-group=${g.name}>
                <td><strong>${g.name}</strong>${index === 0 && html`<div class="muted">默认分组</div>`}</td>
                <td>${g.open_now ? html`<span class="badge state-sending">营业中</span>` : html`<span class="badge state-paused">休息中</span>`}</td>
                <td>${g.intents.length ? g.intents.map((i) => html`<code class="chip">${i}</code>`) : html`<span class="muted">—</span>`}</td>
                <td>${g.tags.length ? g.tags.map((t) => html`<span class="chip">${t}</span>`) : html`<span class="muted">—</span>`}</td>
                <td>${g.always_open ? '全天' : hoursLines(g.hours).map((line) => html`<div>${line}</div>`)}</td>
                <td>${g.closed_dates.length ? g.closed_dates.join('、') : html`<span class="muted">—</span>`}</td>
                <td>${g.kf_account || html`<span class="muted">—</span>`}</td>
              </tr>`)}
            ${data.skill_groups.length === 0 && html`<tr><td colspan="7" class="muted">本服务没有转人工。</td></tr>`}
          </tbody>
        </table>
      </section>

      <section class="rules-section" id="kb-file">
        <h3>知识库文件 <a href="#kb" class="back-link">去知识库编辑</a></h3>
        <${FileLine} path=${data.kb.path} loadedAt=${data.kb.loaded_at} error=${data.kb.last_error} what="知识库" />
        <p>机器人正在使用 <strong id="kb-faq-count">${data.kb.faqs ?? '—'}</strong> 条问答${data.kb.in_force === false && !data.kb.last_error ? '（文件刚修改，正在载入）' : ''}。</p>
      </section>
    </main>`;
}
