/**
 * @jest-environment jsdom
 */
// Not a check but a picture: with CHATSHOP_PAGES_HTML=<file> set, renders 首页, 商品详情 (a SKU picked),
// 购物车 (one line unticked), 结算 and 订单详情 (paid) against a real chatshop server and writes them side by
// side as one HTML file, each page's WXSS (with app.wxss) turned into CSS at a 375 px phone width, for
// tests/browser/test_miniprogram_pages.py to photograph (which runs it); `npm test` leaves it out, and run
// without the variable it is skipped.
const fs = require('fs');
const http = require('http');
const path = require('path');
const postcss = require('postcss');
const simulate = require('miniprogram-simulate');
const simulateUtils = require('miniprogram-simulate/src/utils');
const { createWx } = require('./wx-double');
const { startServer } = require('./support/server');

const OUT = process.env.CHATSHOP_PAGES_HTML;
const ROOT = path.resolve(__dirname, '..');
const maybe = OUT ? test : test.skip;

const PHONE_WIDTH = 375;
const RPX = PHONE_WIDTH / 750;
const TABS = JSON.parse(fs.readFileSync(path.join(ROOT, 'app.json'), 'utf8')).tabBar.list;

// The simulator keeps a built-in component's attributes (src, size, checked ...) as properties, not in the
// DOM; mirrored as data-mp-* attributes they survive into the HTML, where the CSS below draws them.
const MIRRORED = ['src', 'size', 'checked', 'disabled', 'placeholder', 'value', 'type'];
function mirrorAttributes(wxml) {
  return wxml.replace(/<(image|button|checkbox|input)((?:\s+[^\s=/>]+(?:="[^"]*")?)*)\s*(\/?)>/g, (all, tag, attrs, close) => {
    const extra = [];
    for (const [, name, value] of attrs.matchAll(/\s([^\s=/>]+)="([^"]*)"/g)) {
      if (MIRRORED.includes(name)) extra.push(` data-mp-${name}="${value}"`);
    }
    for (const [, name] of attrs.matchAll(/\s([a-z-]+)(?=\s|$)/g)) {
      if (MIRRORED.includes(name)) extra.push(` data-mp-${name}="true"`);
    }
    return `<${tag}${attrs}${extra.join('')}${close ? ' /' : ''}>`;
  });
}
const readFile = simulateUtils.readFile;
simulateUtils.readFile = (file) => {
  const text = readFile(file);
  return text && file.endsWith('.wxml') ? mirrorAttributes(text) : text;
};

// WXSS → CSS for one page: its classes carry the simulator's prefix, wx tags are custom elements, `page`
// is the phone's screen, and rpx is 1/750 of the screen's width.
const TAGS = ['scroll-view', 'swiper-item', 'swiper', 'view', 'text', 'image', 'button', 'input', 'checkbox'];
function pageCss(name) {
  const prefix = `${name}-page`;
  const source = ['app.wxss', `pages/${name}/index.wxss`].map((f) => fs.readFileSync(path.join(ROOT, f), 'utf8')).join('\n');
  const root = postcss.parse(source);
  root.walkRules((rule) => {
    rule.selectors = rule.selectors.map((selector) => `.frame-${name} ${selector
      .replace(/\.([-_a-zA-Z][-_a-zA-Z0-9]*)/g, `.${prefix}--$1`)
      .replace(new RegExp(`(^|[\\s>+~(])(${TAGS.join('|')}|page)(?=[\\s.:#\\[>+~)]|$)`, 'g'),
        (all, before, tag) => `${before}${tag === 'page' ? '.screen' : `wx-${tag}`}`)}`);
  });
  return root.toString().replace(/(-?\d*\.?\d+)rpx/g, (all, n) => `${+(Number(n) * RPX).toFixed(2)}px`);
}

// The look of WeChat's built-in components (style v2), as far as these pages use them.
const BASE_CSS = `
body { margin: 0; padding: 24px; background: #d9dde3; font-family: "Noto Sans CJK SC", "Noto Sans SC", sans-serif;
  display: flex; gap: 28px; align-items: flex-start; width: max-content; }
.frame, .frame .phone, .frame .status, .frame .nav, .frame .tabbar { box-sizing: border-box; }
.frame { width: ${PHONE_WIDTH}px; }
.caption { font-size: 15px; color: #333; margin: 0 0 10px 4px; }
.caption code { color: #777; font-size: 13px; margin-left: 6px; }
.phone { width: ${PHONE_WIDTH}px; height: 812px; background: #fff; border-radius: 18px; overflow: hidden;
  display: flex; flex-direction: column; box-shadow: 0 6px 24px rgba(0,0,0,.18); }
.status { height: 24px; background: #fff; font-size: 12px; font-weight: 600; padding: 5px 16px 0; display: flex; justify-content: space-between; }
.nav { height: 44px; background: #fff; display: flex; align-items: center; justify-content: center; font-size: 17px;
  font-weight: 600; border-bottom: 1px solid #eee; position: relative; }
.nav .capsule { position: absolute; right: 8px; top: 7px; width: 87px; height: 30px; border: 1px solid #e5e5e5;
  border-radius: 15px; background: #fff; display: flex; align-items: center; font-size: 14px; font-weight: 700; }
.nav .capsule span { flex: 1; text-align: center; }
.nav .capsule span + span { border-left: 1px solid #e5e5e5; }
.nav .back { position: absolute; left: 14px; font-size: 22px; font-weight: 400; }
.screen { flex: 1; overflow: hidden; position: relative; transform: translateZ(0); }
.screen-inner { height: 100%; overflow: hidden; }
.tabbar { height: 50px; display: flex; border-top: 1px solid #e5e5e5; background: #fff; }
.tabbar div { flex: 1; display: flex; align-items: center; justify-content: center; font-size: 12px; color: #666; }
.tabbar div.on { color: #e4393c; }
wx-view, wx-scroll-view, wx-swiper, wx-swiper-item { display: block; }
wx-scroll-view { overflow: hidden; }
wx-swiper { overflow: hidden; }
wx-swiper-item { width: 100%; height: 100%; }
wx-text { display: inline; }
wx-image { display: inline-block; width: 320px; height: 240px; overflow: hidden; }
wx-image img { width: 100%; height: 100%; object-fit: cover; display: block; }
wx-button { display: block; position: relative; box-sizing: border-box; margin: 0 auto; padding: 8px 24px; width: 184px; font-size: 17px;
  font-weight: 700; line-height: 1.41; text-align: center; border-radius: 4px; background: #f2f2f2; color: #06ae56; }
wx-button[data-mp-size="mini"] { display: inline-block; width: auto; padding: 0 0.75em; font-size: 16px; line-height: 2;
  margin: 0; }
wx-button[data-mp-disabled="true"] { opacity: .6; }
wx-checkbox { display: inline-block; width: 22px; height: 22px; border: 1px solid #d1d1d1; border-radius: 3px;
  background: #fff; vertical-align: middle; position: relative; flex: none; }
wx-checkbox[data-mp-checked="true"] { border-color: #e4393c; background: #e4393c; }
wx-checkbox[data-mp-checked="true"]::after { content: ""; position: absolute; left: 7px; top: 3px; width: 5px; height: 10px;
  border: solid #fff; border-width: 0 2px 2px 0; transform: rotate(45deg); }
wx-checkbox[data-mp-disabled="true"] { background: #f2f2f2; }
wx-input { display: block; height: 1.4em; line-height: 1.4em; overflow: hidden; }
wx-input::before { content: attr(data-mp-value); }
wx-input[data-mp-value=""]::before, wx-input:not([data-mp-value])::before { content: attr(data-mp-placeholder); color: #999; }
`;

function fetchDataUri(url) {
  return new Promise((resolve) => {
    http.get(url, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(res.statusCode === 200
        ? `data:${res.headers['content-type']};base64,${Buffer.concat(chunks).toString('base64')}` : ''));
    }).on('error', () => resolve(''));
  });
}

// The served images go into the file: the server is gone by the time the browser opens it.
async function withImages(dom) {
  for (const image of dom.querySelectorAll('wx-image[data-mp-src]')) {
    const src = image.getAttribute('data-mp-src');
    const data = src && await fetchDataUri(src);
    if (data) image.innerHTML = `<img src="${data}" alt="">`;
  }
  return dom.outerHTML;
}

// What each page is called here, beside the title its navigation bar shows.
const CAPTIONS = { index: '首页', product: '商品详情', cart: '购物车', checkout: '结算', order: '订单详情' };

function frame(name, title, html, { tab, back } = {}) {
  const tabbar = tab ? `<div class="tabbar">${TABS.map((t) => `<div class="${t.pagePath === `pages/${name}/index` ? 'on' : ''}">${t.text}</div>`).join('')}</div>` : '';
  return `<section class="frame frame-${name}"><p class="caption">${CAPTIONS[name]}<code>pages/${name}/index</code></p><div class="phone">
<div class="status"><span>9:41</span><span>100%</span></div>
<div class="nav">${back ? '<span class="back">‹</span>' : ''}${title}<span class="capsule"><span>···</span><span>◎</span></span></div>
<div class="screen"><div class="screen-inner">${html}</div></div>${tabbar}</div></section>`;
}

maybe('the pages, rendered to one HTML file', async () => {
  const server = await startServer();
  try {
    const double = createWx({ openid: `o_pages_${Date.now()}`, pay: (params, done) => server.pay(params, double.script.openid).then(done) });
    global.wx = double.wx;
    require('../config').baseUrl = server.baseUrl;
    const titleOf = (name) => JSON.parse(fs.readFileSync(path.join(ROOT, `pages/${name}/index.json`), 'utf8')).navigationBarTitleText;
    const loaded = {};
    const page = (name) => {
      // A page is registered once; every call renders a new instance of it.
      loaded[name] = loaded[name] || simulate.load(path.join(ROOT, `pages/${name}/index`), `${name}-page`, { compiler: 'simulate', rootPath: ROOT });
      const comp = simulate.render(loaded[name]);
      comp.attach(document.createElement('parent-wrapper'));
      return comp;
    };
    const tap = (dataset) => ({ currentTarget: { dataset } });
    const pick = (product, specs) => { for (const [name, value] of Object.entries(specs)) product.instance.onPick(tap({ name, value })); };
    const frames = [];

    const home = page('index');
    await home.instance.onLoad();
    frames.push(frame('index', titleOf('index'), await withImages(home.dom), { tab: true }));

    // A second line in the cart, which the customer will untick.
    const knit = page('product');
    await knit.instance.onLoad({ id: 'dress-knit' });
    pick(knit, knit.instance.data.product.skus.find((s) => s.stock > 2).specs);
    await knit.instance.onAddToCart();

    const product = page('product');
    await product.instance.onLoad({ id: 'dress-floral' });
    pick(product, { 尺码: 'M', 颜色: '雾蓝' });
    product.instance.onQuantity(tap({ step: 1 }));
    await product.instance.onAddToCart();
    frames.push(frame('product', titleOf('product'), await withImages(product.dom), { back: true }));

    const cart = page('cart');
    await cart.instance.onShow();
    cart.instance.onToggle(tap({ sku: knit.instance.data.picker.sku.sku_id }));
    frames.push(frame('cart', titleOf('cart'), await withImages(cart.dom), { tab: true }));

    cart.instance.onCheckout();
    const navigation = double.calls.navigations[double.calls.navigations.length - 1][1];
    const checkout = page('checkout');
    await checkout.instance.onLoad(Object.fromEntries(new URLSearchParams(navigation.split('?')[1])));
    await checkout.instance.onChooseAddress();
    frames.push(frame('checkout', titleOf('checkout'), await withImages(checkout.dom), { back: true }));

    const done = await checkout.instance.onSubmit();
    expect(done.outcome).toBe('paid');
    const order = page('order');
    await order.instance.onLoad({ no: done.orderNo, outcome: done.outcome });
    frames.push(frame('order', titleOf('order'), await withImages(order.dom), { back: true }));

    const css = ['index', 'product', 'cart', 'checkout', 'order'].map(pageCss).join('\n');
    fs.writeFileSync(OUT, `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>chatshop mini-program</title>
<style>${BASE_CSS}\n${css}</style></head><body>${frames.join('\n')}</body></html>\n`);
  } finally {
    await server.stop();
  }
}, 120000);
