// A real chatshop server for the end-to-end tests: its own SQLite database and sandbox files in a temp
// directory, the demo catalog seeded, WeChat and WeChat Pay played by its sandbox.
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const http = require('http');

const REPO = path.resolve(__dirname, '../../../..');
const CHATSHOP = process.env.CHATSHOP_BIN || path.join(REPO, '.venv/bin/chatshop');

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function get(url) {
  return new Promise((resolve) => {
    http.get(url, (res) => { res.resume(); resolve(res.statusCode); }).on('error', () => resolve(0));
  });
}

function post(url, body = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'Content-Type': 'application/json' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function getJson(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
    }).on('error', reject);
  });
}

async function startServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatshop-mp-'));
  const port = await freePort();
  // Everything the server writes goes under the temp directory, never into the repository's var/.
  const env = Object.assign({}, process.env, {
    CHATSHOP__DATABASE__URL: `sqlite:///${path.join(dir, 'db.sqlite')}`,
    CHATSHOP__KB__PATH: path.join(dir, 'kb.yaml'),
    CHATSHOP__TAGS__RULES_PATH: path.join(dir, 'tag_rules.yaml'),
    CHATSHOP__OUTREACH__TEMPLATES_PATH: path.join(dir, 'subscribe_templates.yaml'),
    CHATSHOP__MEDIA__IMAGES_DIR: path.join(dir, 'images'),
    CHATSHOP__SANDBOX__CREDENTIALS_PATH: path.join(dir, 'sandbox-credentials.json'),
    CHATSHOP__LOGGING__LEVEL: 'WARNING',
    // Every test's logins and checkouts come from 127.0.0.1, faster than a customer's: no request rate limits.
    CHATSHOP__RATE_LIMITS__ENABLED: 'false',
  });
  execFileSync(CHATSHOP, ['seed'], { env, cwd: dir, stdio: 'ignore' });
  const log = fs.openSync(path.join(dir, 'serve.log'), 'a');
  const child = spawn(CHATSHOP, ['serve', '--host', '127.0.0.1', '--port', String(port)], { env, cwd: dir, stdio: ['ignore', log, log] });
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30000;
  while ((await get(`${baseUrl}/mp/products?limit=1`)) !== 200) {
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`chatshop serve did not start: ${fs.readFileSync(path.join(dir, 'serve.log'), 'utf8').slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    baseUrl,
    dir,
    // The customer pays in WeChat's cashier: find the sandbox transaction of this prepay_id and pay it;
    // the sandbox sends the signed notification before it answers.
    async pay(payParams, openid) {
      const prepayId = String(payParams.package).replace('prepay_id=', '');
      const list = await getJson(`${baseUrl}/sandbox/control/pay/transactions?openid=${encodeURIComponent(openid)}&limit=200`);
      const trade = list.find((t) => t.prepay_id === prepayId);
      if (!trade) return 'requestPayment:fail no such prepay_id';
      const paid = await post(`${baseUrl}/sandbox/control/pay/${trade.out_trade_no}/pay`);
      return paid.status === 200 ? null : `requestPayment:fail ${paid.status}`;
    },
    // The customer taps 允许 in WeChat's consent dialog: WeChat counts one consent for the template.
    async consent(openid, templateId) {
      const answer = await post(`${baseUrl}/sandbox/control/consent`, { account: 'mp', openid, template_id: templateId });
      if (answer.status !== 200) throw new Error(`sandbox consent: ${answer.status}`);
    },
    getJson: (p) => getJson(`${baseUrl}${p}`),
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        const timer = setTimeout(() => { child.kill('SIGKILL'); resolve(); }, 5000);
        child.on('exit', () => { clearTimeout(timer); resolve(); });
      });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

module.exports = { startServer, REPO, CHATSHOP };
