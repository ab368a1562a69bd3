// The one client the pages share, bound to WeChat's `wx` and the configured server.

const config = require('../config');
const { createClient } = require('./request');

/* global wx */
const client = createClient({ wx, baseUrl: config.baseUrl });

module.exports = client;
