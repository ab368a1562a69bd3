const client = require('./utils/client');

App({
  // Logging in early means the first tap on 加入购物车 does not wait for it; a failure here is retried
  // by the first request that needs a token, so it is not shown.
  onLaunch() {
    if (!client.token()) client.login().catch(() => {});
  },
});
