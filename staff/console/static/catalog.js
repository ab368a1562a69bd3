// 商品 (admins).
import { html } from './vendor/htm-3.1.1/preact/standalone.module.js';

export function CatalogView({ me, notify }) {
  return html`<main class="page" id="catalog-view"><div class="page-head"><h2>商品</h2></div></main>`;
}
