// The login page: a plain form posted to the staff API with fetch, so that the password never lands in a
// URL, and the two refusals people meet (a wrong password, a locked-out account) said plainly.
import { ApiError, get, post } from './api.js';

const form = document.getElementById('login-form');
const errorLine = document.getElementById('login-error');
const submit = document.getElementById('login-submit');

function showError(text) {
  errorLine.textContent = text;
  errorLine.hidden = !text;
}

function waitText(seconds) {
  if (seconds >= 60) return `${Math.ceil(seconds / 60)} 分钟`;
  return `${seconds} 秒`;
}

function refusal(error) {
  if (!(error instanceof ApiError)) return '无法连接服务器，请检查网络后重试';
  if (error.code === 'BAD_CREDENTIALS') return '用户名或密码错误';
  if (error.code === 'LOGIN_THROTTLED') {
    const after = Number(error.detail.retry_after) || 60;
    return `登录失败次数过多，账号已暂时锁定，请 ${waitText(after)}后再试`;
  }
  if (error.status === 422) return '请输入用户名和密码';
  return `登录失败：${error.message}`;
}

// The conversation a link pointed at survives the detour through this page (it is in the fragment).
function destination() {
  return '/console' + (location.hash || '');
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const username = form.username.value.trim();
  const password = form.password.value;
  if (!username || !password) {
    showError('请输入用户名和密码');
    return;
  }
  submit.disabled = true;
  showError('');
  try {
    await post('/login', { username, password });
    location.replace(destination());
  } catch (error) {
    showError(refusal(error));
    form.password.value = '';
    form.password.focus();
  } finally {
    submit.disabled = false;
  }
});

// Someone already signed in goes straight to the console. The answer can come back after the person
// has started on the form: focus moves to the username only if they have not (else their password
// would go on in the username box).
get('/me').then(() => location.replace(destination()), () => {
  if (!form.contains(document.activeElement)) form.username.focus();
});
