// 知识库 (admins).
import { html } from './vendor/htm-3.1.1/preact/standalone.module.js';

export function KbView({ me, notify }) {
  return html`<main class="page" id="kb-view"><div class="page-head"><h2>知识库</h2></div></main>`;
}
