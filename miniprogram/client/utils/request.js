// Every call to the chatshop server goes through here: one loading indicator, the login token attached,
// a 401 answered by logging in again and retrying once (the customer never sees it), and every failure
// turned into a Chinese toast and a rejected promise carrying the server's error code.

const TOKEN_KEY = 'chatshop.token';

// The server's refusal codes (web/json_api.py) in the customer's words.
const MESSAGES = {
  OUT_OF_STOCK: '库存不足，请调整数量',
  EMPTY_CART: '购物车是空的',
  ILLEGAL_TRANSITION: '订单状态已变化，请刷新后再试',
  NOT_FOUND: '没有找到相关内容',
  INVALID_INPUT: '填写的信息有误，请检查',
  PAYMENT_UNAVAILABLE: '支付暂时不可用，可稍后在订单中重新支付',
  UNAUTHORIZED: '登录已失效，请重试',
  LOGIN_REFUSED: '登录失败，请重试',
  WECHAT_UNAVAILABLE: '微信服务繁忙，请稍后再试',
  PAYLOAD_TOO_LARGE: '内容太长了',
};

class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body || null;
  }
}

function chineseMessage(status, code) {
  if (MESSAGES[code]) return MESSAGES[code];
  if (status === 0) return '网络不给力，请稍后再试';
  if (status === 429) return '操作太频繁，请稍后再试';
  if (status >= 500) return '服务器开小差了，请稍后再试';
  return '请求失败，请稍后再试';
}

function joinUrl(base, path) {
  return base.replace(/\/+$/, '') + path;
}

function createClient(options) {
  const wx = options.wx;
  const baseUrl = options.baseUrl;
  let loadingCount = 0;
  let loggingIn = null;

  // Concurrent requests share one loading indicator; it goes away when the last of them ends.
  function startLoading(show) {
    if (!show) return () => {};
    if (loadingCount === 0) wx.showLoading({ title: '加载中', mask: true });
    loadingCount += 1;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      loadingCount -= 1;
      if (loadingCount === 0) wx.hideLoading();
    };
  }

  // One HTTP exchange; resolves with {status, body} whatever the status, as wx.request does.
  function send(method, path, data, token) {
    return new Promise((resolve) => {
      const header = { 'Content-Type': 'application/json' };
      if (token) header.Authorization = `Bearer ${token}`;
      wx.request({
        url: joinUrl(baseUrl, path),
        method,
        data: data === undefined ? undefined : data,
        header,
        timeout: 15000,
        success: (res) => resolve({ status: res.statusCode, body: res.data }),
        fail: (err) => resolve({ status: 0, body: null, err }),
      });
    });
  }

  function storedToken() {
    try {
      return wx.getStorageSync(TOKEN_KEY) || '';
    } catch (e) {
      return '';
    }
  }

  // wx.login → POST /mp/login, once at a time: pages that ask together share the one login.
  function login() {
    if (loggingIn) return loggingIn;
    loggingIn = new Promise((resolve, reject) => {
      wx.login({
        success: (res) => resolve(res.code),
        fail: () => reject(new ApiError(0, 'WX_LOGIN_FAILED', '微信登录失败，请重试')),
      });
    })
      .then((code) => send('POST', '/mp/login', { code }))
      .then(({ status, body }) => {
        if (status !== 200 || !body || !body.token) {
          const code = body && body.error ? body.error.code : 'LOGIN_REFUSED';
          throw new ApiError(status, code, chineseMessage(status, code), body);
        }
        wx.setStorageSync(TOKEN_KEY, body.token);
        return body.token;
      })
      .finally(() => {
        loggingIn = null;
      });
    return loggingIn;
  }

  function failure(status, body) {
    const error = body && body.error ? body.error : {};
    const code = error.code || (status === 0 ? 'NETWORK' : `HTTP_${status}`);
    return new ApiError(status, code, chineseMessage(status, code), body);
  }

  // opts.auth: send the token (logging in first if there is none); the catalog passes false, or 'optional'
  // to send a token only when one is stored. opts.loading: false for background calls.
  // opts.quiet: statuses that are an answer rather than a failure for this call (no toast); true for a
  // background call whose failure the customer need not hear of.
  async function request(method, path, data, opts) {
    const o = Object.assign({ auth: true, loading: true, quiet: [] }, opts);
    const stop = startLoading(o.loading);
    try {
      let token = '';
      if (o.auth === true) token = storedToken() || (await login());
      else if (o.auth === 'optional') token = storedToken();
      let answer = await send(method, path, data, token);
      if (answer.status === 401 && o.auth === true) {
        // The token expired or was revoked: log in again and retry once, without asking the customer.
        wx.removeStorageSync(TOKEN_KEY);
        token = await login();
        answer = await send(method, path, data, token);
      }
      if (answer.status >= 200 && answer.status < 300) return answer.body;
      throw failure(answer.status, answer.body);
    } catch (err) {
      const error = err instanceof ApiError ? err : new ApiError(-1, 'CLIENT', '出错了，请稍后再试');
      if (o.quiet !== true && !o.quiet.includes(error.status)) {
        stop();
        wx.showToast({ title: error.message, icon: 'none', duration: 2500 });
      }
      throw error;
    } finally {
      stop();
    }
  }

  return {
    request,
    login,
    get: (path, data, opts) => request('GET', path, data, opts),
    post: (path, data, opts) => request('POST', path, data, opts),
    patch: (path, data, opts) => request('PATCH', path, data, opts),
    del: (path, opts) => request('DELETE', path, undefined, opts),
    token: storedToken,
    toast: (title) => wx.showToast({ title, icon: 'none', duration: 2500 }),
    logout: () => wx.removeStorageSync(TOKEN_KEY),
    imageUrl: (path) => (!path || /^https?:\/\//.test(path) ? path || '' : joinUrl(baseUrl, path)),
  };
}

module.exports = { createClient, ApiError, chineseMessage, TOKEN_KEY };
