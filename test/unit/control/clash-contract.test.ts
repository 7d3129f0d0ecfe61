/**
 * Replays the calls the dashboards make against a running Sluice, with a real
 * HTTP client (Node's fetch) and a real WebSocket client (`ws`), and checks
 * the answers field by field against mihomo's shapes. The calls, as the
 * dashboards' sources make them:
 * - metacubexd (src/apis/index.ts): GET /version, /configs, /proxies,
 *   /providers/proxies, /rules, /providers/rules; PATCH /configs {key: value};
 *   PUT /configs?force=true {path:'', payload:''}; PUT /proxies/:group with a
 *   JSON body sent as text/plain; GET /proxies/:name/delay?url&timeout;
 *   GET /group/:name/delay; DELETE /connections[/:id]; WebSockets
 *   /connections, /traffic, /memory, /logs with ?token=.
 * - zashboard (src/api/index.ts): the same, PUT /configs?reload=true, and
 *   `?token=` on every WebSocket.
 * - yacd: the same endpoints, /logs?level=, /traffic as a WebSocket.
 */
import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as http from 'node:http';
import type * as net from 'node:net';
import { nextMessage, openFlow, startControlFixture, type ControlFixture } from './control-fixture';

interface Connection {
  id: string;
  upload: number;
  download: number;
  start: string;
  chains: string[];
  rule: string;
  rulePayload: string;
  metadata: Record<string, unknown>;
}
interface ConnectionsBody {
  downloadTotal: number;
  uploadTotal: number;
  connections: Connection[];
  memory: number;
}

async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

function closedByPeer(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    s.once('close', () => resolve('closed'));
  });
}

describe('control API: the calls of metacubexd, yacd and zashboard', function () {
  let f: ControlFixture;
  before(async () => {
    f = await startControlFixture();
  });
  after(async () => {
    await f?.close();
  });

  it('GET / and /version', async () => {
    assert.deepEqual(await json(await f.api('/')), { hello: 'sluice' });
    const v = await json(await f.api('/version'));
    assert.equal(v.meta, true);
    assert.match(String(v.version), /^sluice \d+\.\d+\.\d+/);
  });

  it('GET /configs: mode, log-level, ports, tun, sniffing', async () => {
    const c = await json(await f.api('/configs'));
    assert.equal(c.mode, 'rule');
    assert.equal(c['log-level'], 'info');
    assert.equal(c.ipv6, true);
    assert.equal(c['allow-lan'], false);
    assert.equal(c['bind-address'], '127.0.0.1');
    for (const k of ['port', 'socks-port', 'redir-port', 'mixed-port']) assert.equal(c[k], 0, k);
    assert.equal(c['tproxy-port'], f.inboundPort);
    assert.deepEqual(c.tun, { enable: false });
    assert.equal(c.sniffing, false);
  });

  it('PATCH /configs changes log-level and mode; a bad mode is a 400 with a message', async () => {
    let res = await f.api('/configs', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ 'log-level': 'debug' }) });
    assert.equal(res.status, 204);
    assert.equal(f.sluice.logger.level, 'debug');
    assert.equal((await json(await f.api('/configs')))['log-level'], 'debug');
    res = await f.api('/configs', { method: 'PATCH', body: JSON.stringify({ 'log-level': 'info' }) });
    assert.equal(res.status, 204);
    res = await f.api('/configs', { method: 'PATCH', body: JSON.stringify({ mode: 'sideways' }) });
    assert.equal(res.status, 400);
    assert.match(String((await json(res)).message), /mode/);
    assert.equal((await json(await f.api('/configs'))).mode, 'rule');
  });

  it('GET /proxies: outbounds in Clash types, and GLOBAL listing them', async () => {
    const { proxies } = await json<{ proxies: Record<string, Record<string, unknown>> }>(await f.api('/proxies'));
    assert.deepEqual(Object.keys(proxies).sort(), ['GLOBAL', 'blocker', 'out']);
    assert.equal(proxies.out!.name, 'out');
    assert.equal(proxies.out!.type, 'Direct');
    assert.equal(proxies.out!.udp, true);
    assert.equal(proxies.out!.alive, true);
    assert.deepEqual(proxies.out!.history, []);
    assert.equal(proxies.blocker!.type, 'Reject');
    assert.equal(proxies.GLOBAL!.type, 'Selector');
    assert.equal(proxies.GLOBAL!.now, 'out');
    assert.deepEqual(proxies.GLOBAL!.all, ['out', 'blocker']);
    const one = await json(await f.api('/proxies/out'));
    assert.equal(one.type, 'Direct');
    assert.equal((await f.api('/proxies/nothing')).status, 404);
  });

  it('PUT /proxies/:name: 400 "Must be a Selector" for an outbound; GLOBAL takes a member (body sent as text/plain, as metacubexd does)', async () => {
    let res = await f.api('/proxies/out', { method: 'PUT', body: JSON.stringify({ name: 'blocker' }) });
    assert.equal(res.status, 400);
    assert.deepEqual(await json(res), { message: 'Must be a Selector' });
    res = await f.api(`/proxies/${encodeURIComponent('GLOBAL')}`, { method: 'PUT', headers: { 'content-type': 'text/plain;charset=UTF-8' }, body: JSON.stringify({ name: 'blocker' }) });
    assert.equal(res.status, 204);
    assert.equal((await json(await f.api('/proxies/GLOBAL'))).now, 'blocker');
    // mode global now sends every flow to blocker: the client is reset.
    res = await f.api('/configs', { method: 'PATCH', body: JSON.stringify({ mode: 'global' }) });
    assert.equal(res.status, 204);
    const refused = await openFlow(f.inboundPort).then(
      () => 'relayed',
      () => 'refused',
    );
    assert.equal(refused, 'refused');
    await f.api('/configs', { method: 'PATCH', body: JSON.stringify({ mode: 'rule' }) });
    await f.api('/proxies/GLOBAL', { method: 'PUT', body: JSON.stringify({ name: 'out' }) });
  });

  it('GET /proxies/:name/delay: the delay through the outbound, recorded in history; 504 Timeout; 503 on error', async () => {
    const web = http.createServer((_req, res) => res.end('ok'));
    const silent = http.createServer(() => undefined);
    await Promise.all([web, silent].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
    try {
      const url = `http://127.0.0.1:${(web.address() as net.AddressInfo).port}/generate_204`;
      let res = await f.api(`/proxies/out/delay?url=${encodeURIComponent(url)}&timeout=5000`);
      assert.equal(res.status, 200);
      const { delay } = await json<{ delay: number }>(res);
      assert.ok(Number.isInteger(delay) && delay > 0, `delay ${delay}`);
      const { history } = await json<{ history: { time: string; delay: number }[] }>(await f.api('/proxies/out'));
      assert.equal(history.length, 1);
      assert.equal(history[0]!.delay, delay);
      assert.ok(!Number.isNaN(Date.parse(history[0]!.time)));

      const silentUrl = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}/`;
      res = await f.api(`/proxies/out/delay?url=${encodeURIComponent(silentUrl)}&timeout=300`);
      assert.equal(res.status, 504);
      assert.deepEqual(await json(res), { message: 'Timeout' });
      res = await f.api(`/proxies/blocker/delay?url=${encodeURIComponent(url)}&timeout=2000`);
      assert.equal(res.status, 503);
      assert.equal(typeof (await json(res)).message, 'string');
      assert.equal((await json(await f.api('/proxies/blocker'))).alive, false);

      const group = await json(await f.api(`/group/GLOBAL/delay?url=${encodeURIComponent(url)}&timeout=2000`));
      assert.deepEqual(Object.keys(group), ['out']);
      assert.ok((group.out as number) > 0);
    } finally {
      web.close();
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('GET /providers/proxies and /providers/rules', async () => {
    assert.deepEqual(await json(await f.api('/providers/proxies')), { providers: {} });
    assert.deepEqual(await json(await f.api('/providers/rules')), { providers: {} });
  });

  it('GET /rules: Clash type names, payload, proxy, size', async () => {
    const { rules } = await json<{ rules: Record<string, unknown>[] }>(await f.api('/rules'));
    assert.deepEqual(
      rules.map(({ type, payload, proxy, size }) => ({ type, payload, proxy, size })),
      [
        { type: 'DstPort', payload: String(f.echo.address.port), proxy: 'out', size: -1 },
        { type: 'Match', payload: '', proxy: 'out', size: -1 },
      ],
    );
  });

  it('GET /connections (HTTP): a live flow with its metadata, bytes and rule', async () => {
    // Whole seconds: `start` may carry no fraction.
    const openedAfter = Math.floor(Date.now() / 1000) * 1000;
    const client = await openFlow(f.inboundPort, 'abcdef');
    try {
      const body = await json<ConnectionsBody>(await f.api('/connections'));
      assert.ok(body.uploadTotal >= 6 && body.downloadTotal >= 6);
      assert.ok(body.memory > 0);
      const c = body.connections.find((x) => x.metadata.sourcePort === String(client.localPort));
      assert.ok(c, JSON.stringify(body.connections));
      assert.equal(c.upload, 6);
      assert.equal(c.download, 6);
      assert.deepEqual(c.chains, ['out']);
      assert.equal(c.rule, 'DstPort');
      assert.equal(c.rulePayload, String(f.echo.address.port));
      // The flow's start lies between the moment before the client connected and now.
      const start = Date.parse(c.start);
      assert.ok(start >= openedAfter && start <= Date.now(), `start ${c.start} is not between the connect and now`);
      assert.match(c.start, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
      assert.deepEqual(
        { ...c.metadata },
        {
          network: 'tcp',
          type: 'TProxy',
          sourceIP: '127.0.0.1',
          destinationIP: '127.0.0.1',
          sourcePort: String(client.localPort),
          destinationPort: String(f.echo.address.port),
          inboundIP: '127.0.0.1',
          inboundPort: String(f.inboundPort),
          inboundName: 'in',
          inboundUser: '',
          host: '',
          dnsMode: 'normal',
          uid: 0,
          process: '',
          processPath: '',
          specialProxy: '',
          specialRules: '',
          remoteDestination: '127.0.0.1',
          dscp: 0,
          sniffHost: '',
        },
      );
    } finally {
      client.destroy();
    }
  });

  it('GET /connections (WebSocket, ?token=): the snapshot at once, then every interval; an empty list is []', async () => {
    const client = await openFlow(f.inboundPort);
    const ws = f.ws('/connections?interval=200');
    try {
      const first = await nextMessage<ConnectionsBody>(ws);
      assert.ok(first.connections.some((c) => c.metadata.sourcePort === String(client.localPort)));
      const closed = closedByPeer(client);
      client.end();
      await closed;
      const later = await nextMessage<ConnectionsBody>(ws, (m) => !m.connections.some((c) => c.metadata.sourcePort === String(client.localPort)));
      assert.deepEqual(later.connections, []);
    } finally {
      ws.terminate();
      client.destroy();
    }
  });

  it('DELETE /connections/:id resets the flow; DELETE /connections closes all; both 204', async () => {
    const a = await openFlow(f.inboundPort);
    const b = await openFlow(f.inboundPort);
    const c = await openFlow(f.inboundPort);
    const { connections } = await json<ConnectionsBody>(await f.api('/connections'));
    const idOf = (s: net.Socket): string => connections.find((x) => x.metadata.sourcePort === String(s.localPort))!.id;
    const aPort = a.localPort;
    const aEnd = closedByPeer(a);
    let res = await f.api(`/connections/${idOf(a)}`, { method: 'DELETE' });
    assert.equal(res.status, 204);
    assert.equal(await aEnd, 'ECONNRESET');
    const ends = [closedByPeer(b), closedByPeer(c)];
    res = await f.api('/connections', { method: 'DELETE' });
    assert.equal(res.status, 204);
    assert.deepEqual(await Promise.all(ends), ['ECONNRESET', 'ECONNRESET']);
    const src = `127.0.0.1:${aPort}`;
    // The access line follows the reset once the relay has wound down.
    while (!f.lines.some((l) => l.msg === 'flow closed' && l.src === src)) await new Promise((r) => setTimeout(r, 20));
    const line = f.lines.find((l) => l.msg === 'flow closed' && l.src === src);
    assert.match(String(line?.error), /closed through the control API/);
  });

  it('a UDP session is listed with network udp and DELETE ends it', async () => {
    const client = dgram.createSocket('udp4');
    try {
      await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
      const reply = new Promise<Buffer>((resolve) => client.once('message', resolve));
      await f.mock.udpSockets[0]!.bound;
      client.send('ping', f.inboundPort, '127.0.0.1');
      await reply;
      const port = String(client.address().port);
      const { connections } = await json<ConnectionsBody>(await f.api('/connections'));
      const c = connections.find((x) => x.metadata.network === 'udp' && x.metadata.sourcePort === port);
      assert.ok(c, JSON.stringify(connections));
      assert.equal(c.upload, 4);
      assert.equal(c.download, 4);
      assert.equal(c.metadata.destinationPort, String(f.udpEcho.address.port));
      assert.equal((await f.api(`/connections/${c.id}`, { method: 'DELETE' })).status, 204);
      const src = `127.0.0.1:${port}`;
      while (!f.lines.some((l) => l.msg === 'flow closed' && l.src === src)) await new Promise((r) => setTimeout(r, 20));
      assert.match(String(f.lines.find((l) => l.msg === 'flow closed' && l.src === src)!.error), /closed through the control API/);
      const after = await json<ConnectionsBody>(await f.api('/connections'));
      assert.ok(!after.connections.some((x) => x.id === c.id));
    } finally {
      client.close();
    }
  });

  it('GET /traffic (WebSocket and chunked HTTP): {up, down} every second, moving with traffic', async () => {
    const ws = f.ws('/traffic');
    const client = await openFlow(f.inboundPort);
    try {
      const first = await nextMessage<{ up: number; down: number }>(ws);
      assert.deepEqual(Object.keys(first).sort(), ['down', 'up']);
      client.write(Buffer.alloc(50_000));
      const moving = await nextMessage<{ up: number; down: number }>(ws, (m) => m.up > 0);
      assert.ok(moving.up > 0 && moving.down > 0, JSON.stringify(moving));
      const res = await f.api('/traffic');
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      const { value } = await reader.read();
      const line = JSON.parse(Buffer.from(value!).toString().split('\n')[0]!) as Record<string, unknown>;
      assert.deepEqual(Object.keys(line).sort(), ['down', 'up']);
      await reader.cancel();
    } finally {
      ws.terminate();
      client.destroy();
    }
  });

  it('GET /memory (WebSocket): {inuse, oslimit}', async () => {
    const ws = f.ws('/memory');
    try {
      const m = await nextMessage<{ inuse: number; oslimit: number }>(ws);
      assert.ok(m.inuse > 0);
      assert.equal(m.oslimit, 0);
    } finally {
      ws.terminate();
    }
  });

  it('GET /logs?level=info (WebSocket): {type, payload} lines, the access line included', async () => {
    const ws = f.ws('/logs?level=info');
    await new Promise((r) => ws.once('open', r));
    const client = await openFlow(f.inboundPort);
    const port = client.localPort;
    const line = nextMessage<{ type: string; payload: string }>(ws, (m) => m.payload.includes(`127.0.0.1:${port}`));
    client.end();
    try {
      const m = await line;
      assert.equal(m.type, 'info');
      assert.match(m.payload, /^\[TCP\] 127\.0\.0\.1:\d+ --> 127\.0\.0\.1:\d+ match rules\[0\] using out/);
    } finally {
      ws.terminate();
      client.destroy();
    }
  });

  it('PUT /configs {path:"", payload:""} reloads; a bad payload is a 400 and the running config stays', async () => {
    let res = await f.api('/configs?force=true', { method: 'PUT', body: JSON.stringify({ path: '', payload: '' }) });
    assert.equal(res.status, 204);
    res = await f.api('/configs?reload=true', { method: 'PUT', body: JSON.stringify({ path: '', payload: 'inbounds: [' }) });
    assert.equal(res.status, 400);
    assert.equal(typeof (await json(res)).message, 'string');
    const cfg = f.sluice.config;
    const next = {
      inbounds: cfg.inbounds.map((i) => ({ tag: i.tag, type: i.type, listen: i.listen, port: i.port, network: i.network })),
      outbounds: [{ tag: 'out', type: 'direct' }],
      route: { rules: [], final: 'out' },
      control: { listen: cfg.control!.listen, secret: cfg.control!.secret },
    };
    res = await f.api('/configs', { method: 'PUT', body: JSON.stringify({ payload: JSON.stringify({ ...next, plugins: ['some-plugin'] }) }) });
    assert.equal(res.status, 400);
    assert.deepEqual(
      (await json<{ rules: { type: string }[] }>(await f.api('/rules'))).rules.map((r) => r.type),
      ['DstPort', 'Match'],
    );
    res = await f.api('/configs', { method: 'PUT', body: JSON.stringify({ payload: JSON.stringify(next) }) });
    assert.equal(res.status, 204);
    assert.deepEqual(
      (await json<{ rules: { type: string }[] }>(await f.api('/rules'))).rules.map((r) => r.type),
      ['Match'],
    );
    res = await f.api('/configs', { method: 'PUT', body: JSON.stringify({ path: '/etc/passwd' }) });
    assert.equal(res.status, 400);
  });
});
