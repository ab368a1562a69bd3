// A `wx` that behaves like WeChat's for the APIs the client uses: wx.request really speaks HTTP (Node's
// http), storage lives in memory, and the UI calls (toasts, loading, modals, navigation) are recorded
// for the tests to read and answered from a script.

const http = require('http');

function queryString(data) {
  return Object.entries(data)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(typeof v === 'object' ? JSON.stringify(v) : v)}`)
    .join('&');
}

function createWx(options = {}) {
  const storage = new Map();
  const calls = { toasts: [], loading: [], navigations: [], modals: [], requests: [], payments: [], subscriptions: [] };
  let loadingShown = false;
  let nonce = 0;
  const script = {
    openid: options.openid || 'o_tester',
    modalAnswers: [], // {confirm, content} for each wx.showModal, in order; default: confirm
    address: {
      userName: '张三', telNumber: '13800138000', provinceName: '广东省', cityName: '广州市',
      countyName: '天河区', detailInfo: '体育西路 100 号', postalCode: '510000',
    },
    subscribeAnswer: null, // what wx.requestSubscribeMessage resolves with, per template
    pay: options.pay || ((params, done) => done(null)), // done(errMsg) with null for success
  };

  const wx = {
    // As in WeChat: success for any HTTP status, fail only when no answer came; GET data goes in the
    // query string, other methods send it as JSON.
    request({ url, method = 'GET', data, header = {}, success, fail, complete }) {
      let target = url;
      let body;
      if (data !== undefined) {
        if (method === 'GET') {
          const qs = queryString(data);
          if (qs) target += (target.includes('?') ? '&' : '?') + qs;
        } else {
          body = JSON.stringify(data);
        }
      }
      calls.requests.push({ method, url: target, header, data });
      // Node's http rather than fetch: jsdom (for the page tests) has no fetch of its own.
      const req = http.request(target, { method, headers: header }, (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed = text;
          try {
            parsed = text ? JSON.parse(text) : '';
          } catch (e) {
            // not JSON: WeChat hands the text over as it is
          }
          const answer = { statusCode: res.statusCode, data: parsed, header: res.headers, errMsg: 'request:ok' };
          if (success) success(answer);
          if (complete) complete(answer);
        });
      });
      req.setTimeout(15000, () => req.destroy(new Error('timeout')));
      req.on('error', (err) => {
        const answer = { errMsg: `request:fail ${err.message}` };
        if (fail) fail(answer);
        if (complete) complete(answer);
      });
      if (body !== undefined) req.write(body);
      req.end();
    },
    // A fresh sandbox code each time: the sandbox's jscode2session takes each one once, as WeChat does.
    login({ success }) {
      nonce += 1;
      setTimeout(() => success({ code: `sandbox:${script.openid}:js${process.pid}-${Date.now()}-${nonce}`, errMsg: 'login:ok' }));
    },
    getStorageSync: (key) => (storage.has(key) ? JSON.parse(storage.get(key)) : ''),
    setStorageSync: (key, value) => storage.set(key, JSON.stringify(value)),
    removeStorageSync: (key) => storage.delete(key),
    showLoading(o) {
      loadingShown = true;
      calls.loading.push(['show', o.title]);
    },
    hideLoading() {
      loadingShown = false;
      calls.loading.push(['hide']);
    },
    showToast(o) {
      calls.toasts.push(o.title);
    },
    showModal(o) {
      calls.modals.push(o.title);
      const answer = script.modalAnswers.shift() || { confirm: true, content: '' };
      setTimeout(() => o.success && o.success(Object.assign({ cancel: !answer.confirm }, answer)));
    },
    navigateTo: (o) => calls.navigations.push(['navigateTo', o.url]),
    redirectTo: (o) => calls.navigations.push(['redirectTo', o.url]),
    switchTab: (o) => calls.navigations.push(['switchTab', o.url]),
    stopPullDownRefresh() {},
    setNavigationBarTitle() {},
    setClipboardData() {},
    previewImage: (o) => calls.navigations.push(['previewImage', o.urls[0]]),
    chooseAddress({ success }) {
      setTimeout(() => success(Object.assign({ errMsg: 'chooseAddress:ok' }, script.address)));
    },
    // WeChat records each accept as one consent on its side before the page hears the answer;
    // options.consent plays that part (the sandbox's consent in the end-to-end test).
    requestSubscribeMessage({ tmplIds, success, fail }) {
      calls.subscriptions.push(tmplIds);
      if (!tmplIds.length || tmplIds.length > 3) {
        setTimeout(() => fail && fail({ errMsg: 'requestSubscribeMessage:fail invalid tmplIds', errCode: 20001 }));
        return;
      }
      const answer = { errMsg: 'requestSubscribeMessage:ok' };
      for (const id of tmplIds) answer[id] = (script.subscribeAnswer && script.subscribeAnswer[id]) || 'accept';
      const accepted = tmplIds.filter((id) => answer[id] === 'accept');
      Promise.all(accepted.map((id) => (options.consent ? options.consent(script.openid, id) : null)))
        .then(() => success(answer));
    },
    // The cashier: script.pay decides (pays through the sandbox in the end-to-end test); its errMsg
    // follows WeChat's ("requestPayment:fail cancel" when the customer closes it).
    requestPayment(params) {
      calls.payments.push(params);
      script.pay(params, (errMsg) => {
        if (errMsg) params.fail && params.fail({ errMsg });
        else params.success && params.success({ errMsg: 'requestPayment:ok' });
      });
    },
  };
  return { wx, calls, script, storage, isLoading: () => loadingShown };
}

module.exports = { createWx };
