// The 数据 view (each agent's satisfaction and response times) and the 监控 view supervisors watch:
// queues per group, every agent's status and load, and the conversations they may reassign.
import { html, useEffect, useState } from './vendor/htm-3.1.1/preact/standalone.module.js';
import { ApiError, get } from './api.js';
import { STATE, STATUS, duration, since } from './format.js';

function Stars({ value }) {
  if (value === null || value === undefined) return html`<span class="muted">—</span>`;
  const width = `${Math.max(0, Math.min(5, value)) * 20}%`;
  // The width is set through the DOM (Preact's style object), which the CSP's style-src allows.
  return html`<span class="stars" title=${value.toFixed(2)}><span class="stars-fill" style=${{ width }}></span></span>
    <span class="score">${value.toFixed(1)}</span>`;
}

function StatsTable({ rows, caption }) {
  return html`
    <table class="stats">
      <caption>${caption}</caption>
      <thead><tr><th>客服</th><th>已解决</th><th>满意度</th><th>评价数</th><th>首次响应（中位数）</th><th>解决用时（中位数）</th></tr></thead>
      <tbody>
        ${rows.map((r) => html`
          <tr data-agent=${r.username}>
            <td>${r.display_name || r.username}</td><td>${r.resolved}</td><td><${Stars} value=${r.csat_avg} /></td>
            <td>${r.csat_count}</td><td>${duration(r.first_response_s)}</td><td>${duration(r.resolution_s)}</td>
          </tr>`)}
        ${rows.length === 0 && html`<tr><td colspan="6" class="muted">暂无数据</td></tr>`}
      </tbody>
    </table>`;
}

export function StatsView({ revision, notify }) {
  const [stats, setStats] = useState(null);
  const [problem, setProblem] = useState('');
  useEffect(() => {
    get('/stats/agents').then((s) => { setStats(s); setProblem(''); }, (error) => {
      if (error instanceof ApiError && error.status === 404) setProblem('统计接口暂不可用');
      else if (error instanceof ApiError && error.status === 403) setProblem('你的角色不能查看统计');
      else notify(`读取统计失败：${error.message}`);
    });
  }, [revision]);
  return html`
    <main class="page" id="stats-view">
      <h2>客服数据</h2>
      ${problem && html`<p class="muted">${problem}</p>`}
      ${stats && html`
        <${StatsTable} caption="今天" rows=${stats.today || []} />
        <${StatsTable} caption="最近 7 天" rows=${stats.last_7_days || []} />`}
    </main>`;
}

export function SupervisorView({ groups, agents, items, now, open }) {
  const active = items.filter((item) => item.state !== 'resolved');
  return html`
    <main class="page" id="supervise-view">
      <h2>分组队列</h2>
      <table class="stats">
        <thead><tr><th>分组</th><th>营业</th><th>排队</th><th>最久等待</th><th>在线客服</th></tr></thead>
        <tbody>
          ${groups.map((g) => html`
            <tr data-group=${g.name}>
              <td>${g.name}</td><td>${g.open_now ? '营业中' : '休息'}</td><td class=${g.queued ? 'hot' : ''}>${g.queued}</td>
              <td>${g.oldest_queued_at ? since(g.oldest_queued_at, now) : '—'}</td><td>${g.online_agents}</td>
            </tr>`)}
        </tbody>
      </table>
      <h2>客服状态</h2>
      <table class="stats">
        <thead><tr><th>客服</th><th>分组</th><th>状态</th><th>接待中</th></tr></thead>
        <tbody>
          ${agents.map((a) => html`
            <tr data-agent=${a.username}>
              <td>${a.display_name} <span class="muted">${a.username}</span></td><td>${a.groups.join('、')}</td>
              <td><span class=${'dot ' + a.status}></span> ${STATUS[a.status] || a.status}</td>
              <td><span class="load"><span class="load-fill" style=${{ width: `${Math.min(100, (100 * a.active_chats) / Math.max(1, a.max_chats))}%` }}></span></span>
                ${a.active_chats}/${a.max_chats}</td>
            </tr>`)}
        </tbody>
      </table>
      <h2>当前列表中的会话 <span class="muted">打开会话后可转接给其他客服</span></h2>
      <table class="stats">
        <thead><tr><th>客户</th><th>分组</th><th>状态</th><th>接待</th><th>等待</th><th></th></tr></thead>
        <tbody>
          ${active.map((item) => html`
            <tr>
              <td>${item.openid}</td><td>${item.group}</td><td>${STATE[item.state]}</td>
              <td>${item.agent ? item.agent.display_name || item.agent.username : '—'}</td>
              <td>${since(item.state === 'queued' ? item.queued_at : item.awaiting_since, now)}</td>
              <td><button class="link" onClick=${() => open(item.id)}>打开 / 转接</button></td>
            </tr>`)}
          ${active.length === 0 && html`<tr><td colspan="6" class="muted">没有进行中的会话</td></tr>`}
        </tbody>
      </table>
    </main>`;
}
