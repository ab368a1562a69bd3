// 规则与分组 (admins).
import { html } from './vendor/htm-3.1.1/preact/standalone.module.js';

export function RulesView({ me, notify }) {
  return html`<main class="page" id="rules-view"><div class="page-head"><h2>规则与分组</h2></div></main>`;
}
