// Where the chatshop server is. In WeChat DevTools set this to the server's base URL (https and a domain
// listed under 开发管理 → 服务器域名 for a release; any URL while 不校验合法域名 is ticked).
module.exports = {
  baseUrl: 'http://127.0.0.1:8000',
};
