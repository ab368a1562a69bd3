// 订单 (admins).
import { html } from './vendor/htm-3.1.1/preact/standalone.module.js';

export function OrdersView({ me, notify }) {
  return html`<main class="page" id="orders-view"><div class="page-head"><h2>订单</h2></div></main>`;
}
