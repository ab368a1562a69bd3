const client = require('./utils/client');
const shop = require('./utils/shop');

App({
  // Logging in early means the first tap on 加入购物车 does not wait for it; a failure here is retried
  // by the first request that needs a token, so it is not shown.
  onLaunch() {
    if (!client.token()) client.login().catch(() => {});
  },
  // Opened (or brought back) from a subscribe message or a card: the page's src is recorded, so a
  // campaign or a cart reminder is credited with what it brought.
  onShow(options) {
    if (!options) return;
    shop.rememberEntry(options.query);
    shop.recordOpen(client, options.path, options.query);
  },
});
