// 数据 (admins).
import { html } from './vendor/htm-3.1.1/preact/standalone.module.js';

export function DashboardView({ me, notify }) {
  return html`<main class="page" id="dashboard-view"><div class="page-head"><h2>数据</h2></div></main>`;
}
