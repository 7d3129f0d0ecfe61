import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import WebSocket from 'ws';
import { startControlFixture, type ControlFixture } from './control-fixture';

/** A raw request (fetch cannot set `Host` or `Origin`). */
function request(port: number, path: string, headers: Record<string, string>, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** What the server answers to raw request bytes (the status line), or how the connection ended. */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('error', () => resolve(got.split('\r\n')[0] || 'reset'));
    s.on('close', () => resolve(got.split('\r\n')[0] || 'closed'));
  });
}

function wsStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode!);
      ws.terminate();
    });
    ws.once('error', (err) => (err.message.includes('Unexpected server response') ? undefined : reject(err)));
  });
}

describe('control API: auth, CORS, Host, no relaying', function () {
  describe('with a secret', function () {
    let f: ControlFixture;
    before(async () => {
      f = await startControlFixture({ control: { cors_origins: ['*'] } });
    });
    after(async () => {
      await f?.close();
    });

    it('401 {"message":"Unauthorized"} without the secret or with a wrong one; 200 with Bearer', async () => {
      for (const authorization of [undefined, 'Bearer wrong', `Basic ${f.secret!}`, `Bearer ${f.secret!}x`, 'Bearer', `bearer ${f.secret!}`]) {
        const res = await fetch(`${f.base}/proxies`, { headers: authorization ? { authorization } : {} });
        assert.equal(res.status, 401, String(authorization));
        assert.deepEqual(await res.json(), { message: 'Unauthorized' });
      }
      assert.equal((await f.api('/proxies')).status, 200);
    });

    it('WebSocket upgrades take ?token= (right: 101, wrong: 401) or the header', async () => {
      const url = `ws://127.0.0.1:${f.apiPort}/traffic`;
      assert.equal(await wsStatus(`${url}?token=${encodeURIComponent(f.secret!)}`), 101);
      assert.equal(await wsStatus(`${url}?token=wrong`), 401);
      assert.equal(await wsStatus(url), 401);
      assert.equal(await wsStatus(url, { authorization: `Bearer ${f.secret!}` }), 101);
    });

    it('?token= is not accepted on plain HTTP requests', async () => {
      assert.equal((await fetch(`${f.base}/proxies?token=${encodeURIComponent(f.secret!)}`)).status, 401);
    });

    it('CORS: preflight with the methods, headers and private-network answer; the origin on responses', async () => {
      const pre = await request(f.apiPort, '/connections', {
        Origin: 'http://dashboard.example',
        'Access-Control-Request-Method': 'DELETE',
        'Access-Control-Request-Headers': 'authorization, content-type',
        'Access-Control-Request-Private-Network': 'true',
      }, 'OPTIONS');
      assert.equal(pre.status, 204);
      assert.equal(pre.headers['access-control-allow-origin'], '*');
      assert.equal(pre.headers['access-control-allow-methods'], 'GET, POST, PUT, PATCH, DELETE');
      assert.equal(pre.headers['access-control-allow-headers'], 'Content-Type, Authorization');
      assert.equal(pre.headers['access-control-allow-private-network'], 'true');
      const get = await request(f.apiPort, '/version', { Origin: 'http://dashboard.example', Authorization: `Bearer ${f.secret!}` });
      assert.equal(get.status, 200);
      assert.equal(get.headers['access-control-allow-origin'], '*');
    });

    it('relays nothing: an absolute-form request and CONNECT get no upstream', async () => {
      const target = net.createServer((s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nleaked'));
      await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
      const port = (target.address() as net.AddressInfo).port;
      let reached = false;
      target.on('connection', () => (reached = true));
      try {
        const absolute = await raw(f.apiPort, `GET http://127.0.0.1:${port}/ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\nAuthorization: Bearer ${f.secret!}\r\n\r\n`);
        assert.match(absolute, /^HTTP\/1\.1 4\d\d/);
        const connect = await raw(f.apiPort, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\nAuthorization: Bearer ${f.secret!}\r\n\r\n`);
        assert.doesNotMatch(connect, /^HTTP\/1\.1 2/);
        assert.equal(reached, false);
      } finally {
        target.close();
      }
    });
  });

  describe('with an origin list', function () {
    let f: ControlFixture;
    before(async () => {
      f = await startControlFixture({ control: { cors_origins: ['http://yacd.example'] } });
    });
    after(async () => {
      await f?.close();
    });

    it('answers CORS only for the listed origin', async () => {
      const ok = await request(f.apiPort, '/version', { Origin: 'http://yacd.example', Authorization: `Bearer ${f.secret!}` });
      assert.equal(ok.headers['access-control-allow-origin'], 'http://yacd.example');
      const other = await request(f.apiPort, '/version', { Origin: 'http://evil.example', Authorization: `Bearer ${f.secret!}` });
      assert.equal(other.headers['access-control-allow-origin'], undefined);
    });
  });

  describe('without a secret (loopback only)', function () {
    let f: ControlFixture;
    before(async () => {
      f = await startControlFixture({ secret: null });
    });
    after(async () => {
      await f?.close();
    });

    it('answers requests whose Host is the listen address (or localhost)', async () => {
      assert.equal((await request(f.apiPort, '/version', { Host: `127.0.0.1:${f.apiPort}` })).status, 200);
      assert.equal((await request(f.apiPort, '/version', { Host: `localhost:${f.apiPort}` })).status, 200);
    });

    it('refuses another Host (DNS rebinding) and any cross-origin request, preflights included', async () => {
      assert.equal((await request(f.apiPort, '/version', { Host: `rebound.example:${f.apiPort}` })).status, 403);
      const cross = await request(f.apiPort, '/connections', { Host: `127.0.0.1:${f.apiPort}`, Origin: 'http://evil.example' }, 'DELETE');
      assert.equal(cross.status, 403);
      assert.equal(cross.headers['access-control-allow-origin'], undefined);
      const pre = await request(f.apiPort, '/connections', { Host: `127.0.0.1:${f.apiPort}`, Origin: 'http://evil.example', 'Access-Control-Request-Method': 'DELETE' }, 'OPTIONS');
      assert.equal(pre.status, 403);
      // The built-in dashboard is same-origin.
      assert.equal((await request(f.apiPort, '/version', { Host: `127.0.0.1:${f.apiPort}`, Origin: `http://127.0.0.1:${f.apiPort}` })).status, 200);
    });

    it('refuses a WebSocket from another origin', async () => {
      assert.equal(await wsStatus(`ws://127.0.0.1:${f.apiPort}/traffic`, { Origin: 'http://evil.example' }), 403);
    });
  });

  describe('ui', function () {
    let f: ControlFixture;
    before(async () => {
      f = await startControlFixture({ control: { ui: true } });
    });
    after(async () => {
      await f?.close();
    });

    it('serves /ui/ without the secret (a browser navigating cannot send it), never a file outside its directory', async () => {
      const redirect = await fetch(`${f.base}/ui`, { redirect: 'manual' });
      assert.equal(redirect.status, 308);
      assert.equal(redirect.headers.get('location'), '/ui/');
      // `npm run build` bundles the dashboard (packages/core/ui → ui-dist): the page, its script and its style, without a 401.
      const page = await fetch(`${f.base}/ui/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      const html = await page.text();
      assert.match(html, /<title>Sluice dashboard<\/title>/);
      for (const [file, type] of [['app.js', /^text\/javascript/], ['app.css', /^text\/css/]] as const) {
        assert.ok(html.includes(`"${file}"`), `index.html loads ${file}`);
        const r = await fetch(`${f.base}/ui/${file}`);
        assert.equal(r.status, 200, file);
        assert.match(r.headers.get('content-type') ?? '', type, file);
      }
      // Everything the page loads is relative (this server), never another host.
      assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//);
      for (const path of ['/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/..%2f..%2fpackage.json']) {
        const r = await raw(f.apiPort, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${f.apiPort}\r\nConnection: close\r\n\r\n`);
        assert.match(r, /^HTTP\/1\.1 (404|401)/, path);
      }
      assert.equal((await fetch(`${f.base}/connections`)).status, 401);
    });
  });

  describe('metrics_without_auth', function () {
    let f: ControlFixture;
    before(async () => {
      f = await startControlFixture({ control: { metrics_without_auth: true } });
    });
    after(async () => {
      await f?.close();
    });

    it('serves /metrics without the secret, and nothing else', async () => {
      const res = await fetch(`${f.base}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
      assert.match(await res.text(), /^# HELP sluice_flows_total /m);
      assert.equal((await fetch(`${f.base}/connections`)).status, 401);
    });
  });
});
