// 数据 (admins): the overview (periods against the ones before, orders by weekday and hour), the funnel from
// view to payment, where orders come from (sources, campaigns, reminders, the bot, agents) and repeat purchase.
// Every figure comes from the daily aggregates through /staff/api/analytics/; every table downloads as CSV.
// Routes: #data (overview), #data/funnel/<days>, #data/sources/<days>, #data/repeat.
import { html, useEffect, useState } from './vendor/htm-3.1.1/preact/standalone.module.js';
import { get, query } from './api.js';
import { ChartBox } from './charts.js';
import { clock, yuan } from './format.js';
import { go, useHashRoute } from './route.js';

const TABS = [
  { key: 'overview', label: '概览' },
  { key: 'funnel', label: '转化漏斗' },
  { key: 'sources', label: '来源' },
  { key: 'repeat', label: '复购' },
];
const PERIODS = [7, 30, 90];
const PERIOD_LABEL = { today: '今天', yesterday: '昨天', '7d': '近 7 天', '30d': '近 30 天' };
const BEFORE_LABEL = { today: '较昨天全天', yesterday: '较前天', '7d': '较前 7 天', '30d': '较前 30 天' };
export const SOURCE = {
  card: '聊天商品卡片',
  cart_reminder: '购物车提醒',
  campaign: '营销活动',
  share: '分享',
  direct: '直接访问',
};
const STAGES = [
  { key: 'view', label: '浏览' },
  { key: 'cart', label: '加购' },
  { key: 'checkout', label: '下单' },
  { key: 'paid', label: '支付' },
];
const WEEKDAYS = ['周一', '周二', '周三', '周四', '周五', '周六', '周日'];
const HOURS = Array.from({ length: 24 }, (_, h) => h);
const RANKED = 5; // products in each ranking

export const percent = (rate) => (rate === null || rate === undefined ? '—' : `${(rate * 100).toFixed(1)}%`);
const count = (n) => n.toLocaleString('zh-CN');

export function DashboardView({ notify }) {
  const [tab = 'overview', daysPart] = useHashRoute('data');
  const days = PERIODS.includes(Number(daysPart)) ? Number(daysPart) : 30;
  const current = TABS.some((t) => t.key === tab) ? tab : 'overview';
  return html`<main class="page dashboard" id="dashboard-view">
    <div class="page-head">
      <h2>数据</h2>
      <nav class="dash-tabs" aria-label="数据分类">
        ${TABS.map((t) => html`<button class=${'dash-tab' + (t.key === current ? ' active' : '')} data-tab=${t.key}
          onClick=${() => go('data', t.key, ...(t.key === 'funnel' || t.key === 'sources' ? [days] : []))}>${t.label}</button>`)}
      </nav>
    </div>
    ${current === 'overview' && html`<${Overview} notify=${notify} />`}
    ${current === 'funnel' && html`<${Funnel} days=${days} notify=${notify} />`}
    ${current === 'sources' && html`<${Sources} days=${days} notify=${notify} />`}
    ${current === 'repeat' && html`<${Repeat} notify=${notify} />`}
  </main>`;
}

// One GET, again whenever `path` changes; errors become a toast and an inline line.
function useFigures(path, notify) {
  const [state, setState] = useState({ data: null, error: '' });
  useEffect(() => {
    let gone = false;
    setState((s) => ({ data: s.data, error: '' }));
    get(path).then((data) => { if (!gone) setState({ data, error: '' }); }, (error) => {
      if (gone) return;
      setState({ data: null, error: error.message });
      notify(`数据载入失败：${error.message}`, 'error');
    });
    return () => { gone = true; };
  }, [path]);
  return state;
}

function Loading({ error }) {
  return error ? html`<p class="form-error">${error}</p>` : html`<p class="muted">载入中…</p>`;
}

function PeriodPicker({ tab, days }) {
  return html`<div class="dash-periods" role="group" aria-label="统计周期">
    ${PERIODS.map((n) => html`<button class=${'secondary' + (n === days ? ' active' : '')} data-days=${n}
      onClick=${() => go('data', tab, n)}>近 ${n} 天</button>`)}
  </div>`;
}

function Csv({ table, days }) {
  const href = `/staff/api/analytics/export/${table}${days ? query({ days }) : ''}`;
  return html`<a class="csv-link" href=${href} download data-csv=${table}>导出 CSV</a>`;
}

function Section({ title, table, days, children, note }) {
  return html`<section class="dash-section" data-section=${table}>
    <div class="dash-section-head"><h3>${title}</h3>${table && html`<${Csv} table=${table} days=${days} />`}</div>
    ${note && html`<p class="muted">${note}</p>`}
    ${children}
  </section>`;
}

function Change({ value, invert }) {
  if (value === null || value === undefined) return html`<span class="change none">—</span>`;
  const up = value > 0;
  const good = invert ? !up : up;
  const kind = value === 0 ? 'flat' : good ? 'good' : 'bad';
  return html`<span class=${'change ' + kind}>${up ? '↑' : value < 0 ? '↓' : ''}${Math.abs(value).toFixed(1)}%</span>`;
}

// ----- overview ---------------------------------------------------------------------------------------

const METRICS = [
  { key: 'gmv_fen', label: 'GMV', show: yuan },
  { key: 'orders', label: '支付订单', show: count },
  { key: 'customers', label: '支付人数', show: count },
  { key: 'aov_fen', label: '客单价', show: yuan },
  { key: 'refunds', label: '退款', show: count, invert: true, extra: (p) => yuan(p.current.refund_fen) },
];

// Today's tile beside yesterday up to the same hour where the hours are kept (GMV, orders, AOV); distinct
// customers and refunds are kept per day, so theirs is yesterday's whole day, said as such.
function TileNote({ today, metric }) {
  const same = today.same_time;
  if (same && metric.key in same.change_pct) {
    return html`<div class="tile-note" title=${`昨天 00:00–${same.until_hour}:59：${metric.show(same[metric.key])}`}>
      较昨天同时段 <${Change} value=${same.change_pct[metric.key]} invert=${metric.invert} /></div>`;
  }
  return html`<div class="tile-note">昨天全天 ${metric.show(today.previous[metric.key])}</div>`;
}

function Overview({ notify }) {
  const { data, error } = useFigures('/analytics/overview', notify);
  if (!data) return html`<${Loading} error=${error} />`;
  const today = data.periods.find((p) => p.key === 'today');
  return html`
    <p class="muted dash-fresh">店铺时区 ${data.timezone} · ${data.rolled_at ? `数据更新于 ${clock(data.rolled_at)}（每 5 分钟汇总一次）` : '尚未汇总：首次汇总后显示'}</p>
    <div class="tiles">
      ${METRICS.map((m) => html`<div class="tile" data-figure=${m.key}>
        <div class="tile-value">${m.show(today.current[m.key])}</div>
        <div class="tile-label">今天 ${m.label}${m.extra ? ` · ${m.extra(today)}` : ''}</div>
        <${TileNote} today=${today} metric=${m} />
      </div>`)}
    </div>
    <${Section} title="核心指标" table="overview">
      <table class="stats dash-table" id="overview-table">
        <thead><tr><th>时段</th>${METRICS.map((m) => html`<th class="num">${m.label}</th>`)}</tr></thead>
        <tbody>${data.periods.map((p) => html`<tr data-period=${p.key}>
          <th scope="row">${PERIOD_LABEL[p.key]}<div class="muted">${BEFORE_LABEL[p.key]}</div></th>
          ${METRICS.map((m) => html`<td class="num" data-metric=${m.key}>
            <div>${m.show(p.current[m.key])}</div>
            <div class="muted">${m.show(p.previous[m.key])} <${Change} value=${p.change_pct[m.key]} invert=${m.invert} /></div>
          </td>`)}
        </tr>`)}</tbody>
      </table>
    <//>
    <${Section} title="下单时段热力图" table="heatmap"
      note=${`近 28 天（${data.heatmap.first} 至 ${data.heatmap.last}）每个星期几、每个小时的支付订单数，颜色越深订单越多。`}>
      <${Heatmap} cells=${data.heatmap.cells} />
    <//>`;
}

function Heatmap({ cells }) {
  const at = new Map(cells.map((c) => [`${c.weekday}-${c.hour}`, c]));
  const most = Math.max(1, ...cells.map((c) => c.orders));
  return html`<div class="heatmap-wrap"><table class="heatmap" id="heatmap">
    <thead><tr><th></th>${HOURS.map((h) => html`<th>${h}</th>`)}</tr></thead>
    <tbody>${WEEKDAYS.map((name, weekday) => html`<tr>
      <th scope="row">${name}</th>
      ${HOURS.map((hour) => {
        const cell = at.get(`${weekday}-${hour}`);
        const orders = cell ? cell.orders : 0;
        // The shade is data, so it is set through the style property (CSSOM), which the CSP allows.
        const shade = orders ? { background: `rgba(7, 193, 96, ${(0.12 + 0.88 * orders / most).toFixed(3)})` } : null;
        return html`<td class=${orders ? 'hot' : ''} style=${shade} data-cell=${`${weekday}-${hour}`}
          title=${`${name} ${hour}:00–${hour + 1}:00：${orders} 单${cell ? `，${yuan(cell.gmv_fen)}` : ''}`}>${orders || ''}</td>`;
      })}
    </tr>`)}</tbody>
  </table></div>`;
}

// ----- funnel -----------------------------------------------------------------------------------------

function Funnel({ days, notify }) {
  const { data, error } = useFigures(`/analytics/funnel${query({ days })}`, notify);
  return html`<${PeriodPicker} tab="funnel" days=${days} />
    ${data ? html`<${FunnelFigures} data=${data} days=${days} />` : html`<${Loading} error=${error} />`}`;
}

function FunnelFigures({ data, days }) {
  const overall = data.overall;
  const chart = {
    type: 'bar',
    data: {
      labels: STAGES.map((s) => s.label),
      datasets: [{ label: '人数', data: STAGES.map((s) => overall.customers[s.key]), backgroundColor: ['#07c160', '#3ccf7f', '#7adda6', '#b5ecce'] }],
    },
    options: { indexAxis: 'y', maintainAspectRatio: false, animation: false, plugins: { legend: { display: false } },
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
  };
  const products = data.products;
  return html`
    <div class="funnel-top">
      <div class="tiles funnel-tiles">
        ${STAGES.map((s) => html`<div class="tile" data-stage=${s.key}>
          <div class="tile-value">${count(overall.customers[s.key])}</div>
          <div class="tile-label">${s.label}人数</div>
          <div class="tile-note">${count(overall.events[s.key])} 次</div>
        </div>`)}
        <div class="tile rate" data-rate="view_to_cart"><div class="tile-value">${percent(overall.view_to_cart)}</div>
          <div class="tile-label">浏览-加购率</div><div class="tile-note">加购人数 ÷ 浏览人数</div></div>
        <div class="tile rate" data-rate="cart_to_paid"><div class="tile-value">${percent(overall.cart_to_paid)}</div>
          <div class="tile-label">加购-支付率</div><div class="tile-note">支付人数 ÷ 加购人数</div></div>
      </div>
      <${ChartBox} box="dash-chart" config=${chart} name="funnel" label="转化漏斗：浏览、加购、下单、支付人数" />
    </div>
    <${Section} title="全店漏斗" table="funnel" days=${days}
      note="人数为每天去重后相加（同一位客户在两天里各浏览一次计 2 人）；未登录的浏览只计次数。">
      <table class="stats dash-table"><thead><tr>${STAGES.map((s) => html`<th class="num">${s.label}人数</th>`)}
        ${STAGES.map((s) => html`<th class="num">${s.label}次数</th>`)}</tr></thead>
        <tbody><tr>${STAGES.map((s) => html`<td class="num">${count(overall.customers[s.key])}</td>`)}
          ${STAGES.map((s) => html`<td class="num">${count(overall.events[s.key])}</td>`)}</tr></tbody></table>
    <//>
    <${Section} title="按来源" table="funnel_sources" days=${days} note="加购、下单、支付归到该客户此前 7 天内最后一次打开该商品页的来源。">
      <table class="stats dash-table" id="funnel-by-src"><thead><tr><th>来源</th>${STAGES.map((s) => html`<th class="num">${s.label}次数</th>`)}</tr></thead>
        <tbody>${data.by_src.map((row) => html`<tr data-src=${row.src}><td>${SOURCE[row.src] || row.src}</td>
          ${STAGES.map((s) => html`<td class="num">${count(row[s.key])}</td>`)}</tr>`)}</tbody></table>
    <//>
    <div class="rankings">
      <${Ranking} title="浏览-加购率 排行" products=${products} rate="view_to_cart" name="view-to-cart" />
      <${Ranking} title="加购-支付率 排行" products=${products} rate="cart_to_paid" name="cart-to-paid" />
    </div>
    <${Section} title="商品转化" table="products" days=${days}>
      ${products.length === 0 ? html`<p class="empty">这段时间还没有商品浏览记录。</p>` : html`
      <table class="stats dash-table" id="funnel-products"><thead><tr><th>商品</th>
        ${STAGES.map((s) => html`<th class="num">${s.label}人数</th>`)}<th class="num">浏览-加购率</th><th class="num">加购-支付率</th></tr></thead>
        <tbody>${products.map((p) => html`<tr data-product=${p.product_id}><td>${p.title}</td>
          ${STAGES.map((s) => html`<td class="num" data-stage=${s.key}>${count(p.customers[s.key])}</td>`)}
          <td class="num">${percent(p.view_to_cart)}</td><td class="num">${percent(p.cart_to_paid)}</td></tr>`)}</tbody></table>`}
    <//>`;
}

function Ranking({ title, products, rate, name }) {
  const ranked = products.filter((p) => p[rate] !== null).sort((a, b) => b[rate] - a[rate]).slice(0, RANKED);
  return html`<section class="dash-section ranking" data-ranking=${name}>
    <div class="dash-section-head"><h3>${title}</h3></div>
    ${ranked.length === 0 ? html`<p class="empty">暂无数据</p>` : html`<ol>
      ${ranked.map((p) => html`<li><span class="rank-title">${p.title}</span><strong>${percent(p[rate])}</strong></li>`)}
    </ol>`}
  </section>`;
}

// ----- sources ----------------------------------------------------------------------------------------

function Sources({ days, notify }) {
  const { data, error } = useFigures(`/analytics/sources${query({ days })}`, notify);
  return html`<${PeriodPicker} tab="sources" days=${days} />
    ${data ? html`<${SourceFigures} data=${data} days=${days} />` : html`<${Loading} error=${error} />`}`;
}

function SourceFigures({ data, days }) {
  const chart = {
    type: 'bar',
    data: {
      labels: data.by_src.map((s) => SOURCE[s.src] || s.src),
      datasets: [{ label: 'GMV（元）', data: data.by_src.map((s) => s.gmv_fen / 100), backgroundColor: '#07c160' }],
    },
    options: { maintainAspectRatio: false, animation: false, plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true } } },
  };
  const r = data.reminders;
  const bot = data.bot;
  return html`
    <div class="sources-top">
      <${Section} title="按来源的订单与 GMV" table="sources" days=${days}
        note="每笔支付订单归到客户下单前 7 天内最后打开的商品页来源；都没有则为直接访问。">
        <table class="stats dash-table" id="sources-table"><thead><tr><th>来源</th><th class="num">支付订单</th><th class="num">GMV</th><th class="num">支付人数</th></tr></thead>
          <tbody>${data.by_src.map((s) => html`<tr data-src=${s.src}><td>${SOURCE[s.src] || s.src}</td>
            <td class="num" data-col="orders">${count(s.orders)}</td><td class="num" data-col="gmv">${yuan(s.gmv_fen)}</td>
            <td class="num">${count(s.customers)}</td></tr>`)}</tbody></table>
      <//>
      <${ChartBox} box="dash-chart" config=${chart} name="sources" label="各来源 GMV" />
    </div>
    <${Section} title="营销活动（对比对照组）" table="campaigns" days=${days}
      note="发送组与对照组：活动开始后 7 天内付款的人数与 GMV；归因订单：从活动消息打开商品页后下单。">
      ${data.campaigns.length === 0 ? html`<p class="empty">这段时间没有营销活动。</p>` : html`
      <table class="stats dash-table" id="campaign-sources"><thead><tr><th>活动</th><th class="num">已发送</th><th class="num">打开</th>
        <th class="num">归因订单</th><th class="num">归因 GMV</th><th class="num">发送组 下单率</th><th class="num">对照组 下单率</th></tr></thead>
        <tbody>${data.campaigns.map((c) => html`<tr data-campaign=${c.campaign_id}><td>${c.name}</td><td class="num">${count(c.sent)}</td>
          <td class="num">${count(c.opens)}</td><td class="num">${count(c.orders)}</td><td class="num">${yuan(c.gmv_fen)}</td>
          <td class="num">${percent(c.recipients.customers ? c.recipients.buyers / c.recipients.customers : null)}（${yuan(c.recipients.gmv_fen)}）</td>
          <td class="num">${percent(c.holdout.customers ? c.holdout.buyers / c.holdout.customers : null)}（${yuan(c.holdout.gmv_fen)}）</td></tr>`)}</tbody></table>`}
    <//>
    <${Section} title="购物车提醒（对比对照组）" table="reminders" days=${days} note="提醒后 7 天内付款（或从提醒打开后付款）的购物车。">
      <table class="stats dash-table" id="reminder-sources"><thead><tr><th></th><th class="num">购物车</th><th class="num">转化</th><th class="num">转化率</th><th class="num">收入</th></tr></thead>
        <tbody>
          <tr data-group="reminded"><td>已提醒</td><td class="num">${count(r.reminded.carts)}</td><td class="num">${count(r.reminded.converted)}</td>
            <td class="num">${percent(r.reminded.carts ? r.reminded.conversion : null)}</td><td class="num">${yuan(r.reminded.revenue_fen)}</td></tr>
          <tr data-group="holdout"><td>对照组（不提醒）</td><td class="num">${count(r.holdout.carts)}</td><td class="num">${count(r.holdout.converted)}</td>
            <td class="num">${percent(r.holdout.carts ? r.holdout.conversion : null)}</td><td class="num">${yuan(r.holdout.revenue_fen)}</td></tr>
        </tbody></table>
      <p class="muted">从提醒打开商品页后的支付订单：${count(r.orders)} 笔，${yuan(r.gmv_fen)}。</p>
    <//>
    <${Section} title="智能客服" table="bot" days=${days} note="提问：客户发来的文字消息；未能解答：机器人没有找到答案；转人工：转给客服的会话。">
      <div class="tiles" id="bot-figures">
        <div class="tile"><div class="tile-value">${count(bot.questions)}</div><div class="tile-label">客户提问</div></div>
        <div class="tile"><div class="tile-value">${percent(bot.answered_share)}</div><div class="tile-label">机器人解答</div><div class="tile-note">${count(bot.answered)} 条</div></div>
        <div class="tile"><div class="tile-value">${count(bot.unanswered)}</div><div class="tile-label">未能解答</div></div>
        <div class="tile"><div class="tile-value">${percent(bot.handoff_share)}</div><div class="tile-label">转人工</div><div class="tile-note">${count(bot.handoffs)} 次</div></div>
      </div>
    <//>
    <${Section} title="客服满意度" table="agents" days=${days}>
      ${data.agents.length === 0 ? html`<p class="empty">这段时间没有客服解决的会话。</p>` : html`
      <table class="stats dash-table" id="agent-csat"><thead><tr><th>客服</th><th class="num">解决会话</th><th class="num">评价数</th><th class="num">平均满意度</th></tr></thead>
        <tbody>${data.agents.map((a) => html`<tr><td>${a.display_name}</td><td class="num">${count(a.resolved)}</td>
          <td class="num">${count(a.csat_count)}</td><td class="num">${a.csat_avg === null ? '—' : `${a.csat_avg.toFixed(2)} / 5`}</td></tr>`)}</tbody></table>`}
    <//>`;
}

// ----- repeat purchase --------------------------------------------------------------------------------

function Repeat({ notify }) {
  const { data, error } = useFigures('/analytics/repeat', notify);
  if (!data) return html`<${Loading} error=${error} />`;
  return html`
    <div class="tiles repeat-tiles">
      <div class="tile" data-figure="repeat_7d"><div class="tile-value">${percent(data.repeat_7d)}</div>
        <div class="tile-label">7 天复购率</div><div class="tile-note">首单满 7 天的新客中再次购买的比例</div></div>
      <div class="tile" data-figure="repeat_30d"><div class="tile-value">${percent(data.repeat_30d)}</div>
        <div class="tile-label">30 天复购率</div><div class="tile-note">首单满 30 天的新客中再次购买的比例</div></div>
    </div>
    <${Section} title="按首单周" table="repeat" note="每行是首单在该周的新客；还没满 7 / 30 天的周显示 —。">
      <table class="stats dash-table" id="repeat-cohorts"><thead><tr><th>首单周（周一）</th><th class="num">新客</th><th class="num">7 天复购率</th><th class="num">30 天复购率</th></tr></thead>
        <tbody>${data.cohorts.map((c) => html`<tr data-week=${c.week}><td>${c.week}</td><td class="num">${count(c.new_buyers)}</td>
          <td class="num">${c.new_buyers ? percent(c.repeat_7d) : '—'}</td><td class="num">${c.new_buyers ? percent(c.repeat_30d) : '—'}</td></tr>`)}</tbody></table>
    <//>`;
}

// ----- charts -----------------------------------------------------------------------------------------

