/**
 * The control API over a config with outbound groups, every kind of rule and
 * a rule set, and the DNS resolver: `/proxies` and `/group` show the
 * runtime's groups in mihomo's shapes, selection and delay tests go through
 * the runtime, `/rules` and `/providers/rules` use mihomo's type names, and
 * `/metrics` counts DNS queries.
 */
import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as dnsPacket from 'dns-packet';
import { freePort, openFlow, startControlFixture, type ControlFixture } from './control-fixture';

type Proxy = Record<string, unknown> & { history: { time: string; delay: number }[] };

async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  assert.ok(res.ok, `HTTP ${res.status}`);
  return (await res.json()) as T;
}

function udpQuery(port: number, payload: Buffer): Promise<Buffer> {
  const s = dgram.createSocket('udp4');
  return new Promise<Buffer>((resolve, reject) => {
    s.once('message', (m) => resolve(m));
    s.once('error', reject);
    s.send(payload, port, '127.0.0.1');
  }).finally(() => s.close());
}

describe('control API: groups, rules, rule sets and DNS from the runtime', function () {
  let f: ControlFixture;
  let web: http.Server;
  let webUrl: string;
  let dir: string;
  let ruleSetPath: string;
  let dnsPort: number;

  before(async () => {
    web = http.createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    webUrl = `http://127.0.0.1:${(web.address() as net.AddressInfo).port}/generate_204`;
    dir = mkdtempSync(join(tmpdir(), 'sluice-control-'));
    ruleSetPath = join(dir, 'ads.txt');
    writeFileSync(ruleSetPath, 'ads.example\n+.tracker.example\n10.9.0.0/16\n');
    dnsPort = await freePort();
    f = await startControlFixture({
      config: (echoPort) => ({
        workers: 1,
        outbounds: [
          { tag: 'out', type: 'direct' },
          { tag: 'blocker', type: 'block' },
          { tag: 'spare', type: 'direct' },
          { tag: 'pick', type: 'selector', outbounds: ['out', 'blocker'] },
          { tag: 'auto', type: 'url-test', outbounds: ['out', 'spare'], check: { url: webUrl, interval_ms: 600000, timeout_ms: 2000 } },
        ],
        route: {
          rule_sets: [{ tag: 'ads', type: 'file', path: ruleSetPath }],
          rules: [
            { dst_port: [echoPort], outbound: 'pick' },
            { domain_suffix: ['example.com'], outbound: 'auto' },
            { domain: ['a.example.org'], outbound: 'out' },
            { domain_keyword: ['tracker'], outbound: 'blocker' },
            { domain_regex: ['^ads\\.'], outbound: 'blocker' },
            { dst_cidr: ['10.0.0.0/8'], outbound: 'out' },
            { src_cidr: ['192.168.0.0/16'], outbound: 'out' },
            { src_port: [1234], outbound: 'out' },
            { rule_set: ['ads'], outbound: 'blocker' },
            'DOMAIN-SUFFIX,clash.example,auto',
            'IP-CIDR,172.16.0.0/12,out,no-resolve',
            'AND,((DOMAIN,b.example.org),(NETWORK,UDP)),blocker',
            { any: [{ domain: ['c.example.org'] }, { dst_port: [8443] }], outbound: 'out' },
          ],
          final: 'auto',
        },
        dns: { listen: [`127.0.0.1:${dnsPort}`], upstreams: ['udp://127.0.0.1:9'], hosts: { 'static.test': '10.1.2.3' } },
      }),
    });
  });
  after(async () => {
    await f?.close();
    web?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('GET /proxies: groups with type, now, all, alive and history; GLOBAL lists the groups first', async () => {
    const { proxies } = await json<{ proxies: Record<string, Proxy> }>(await f.api('/proxies'));
    assert.deepEqual(Object.keys(proxies), ['pick', 'auto', 'out', 'blocker', 'spare', 'GLOBAL']);
    const pick = proxies.pick!;
    assert.equal(pick.name, 'pick');
    assert.equal(pick.type, 'Selector');
    assert.equal(pick.now, 'out');
    assert.deepEqual(pick.all, ['out', 'blocker']);
    assert.equal(pick.udp, true);
    assert.equal(pick.alive, true);
    assert.deepEqual(pick.history, []);
    const auto = proxies.auto!;
    assert.equal(auto.type, 'URLTest');
    assert.deepEqual(auto.all, ['out', 'spare']);
    assert.ok(auto.now === 'out' || auto.now === 'spare', String(auto.now));
    assert.equal(proxies.out!.type, 'Direct');
    assert.equal(proxies.out!.all, undefined);
    assert.equal(proxies.blocker!.type, 'Reject');
    assert.equal(proxies.GLOBAL!.type, 'Selector');
    assert.deepEqual(proxies.GLOBAL!.all, ['pick', 'auto', 'out', 'blocker', 'spare']);
    assert.equal(proxies.GLOBAL!.now, 'auto');
    const group = await json<{ proxies: Proxy[] }>(await f.api('/group'));
    assert.deepEqual(
      group.proxies.map((p) => [p.name, p.type]),
      [
        ['pick', 'Selector'],
        ['auto', 'URLTest'],
        ['GLOBAL', 'Selector'],
      ],
    );
  });

  it('PUT /proxies/:selector selects through the runtime (204, the next flow follows); 400 "Must be a Selector" for a url-test group', async () => {
    let res = await f.api('/proxies/pick', { method: 'PUT', body: JSON.stringify({ name: 'blocker' }) });
    assert.equal(res.status, 204);
    assert.equal((await json<Proxy>(await f.api('/proxies/pick'))).now, 'blocker');
    assert.equal((await f.sluice.groups()).find((g) => g.tag === 'pick')?.now, 'blocker');
    const refused = await openFlow(f.inboundPort).then(
      (s) => (s.destroy(), 'relayed'),
      () => 'refused',
    );
    assert.equal(refused, 'refused');
    res = await f.api('/proxies/pick', { method: 'PUT', body: JSON.stringify({ name: 'nothing' }) });
    assert.equal(res.status, 400);
    res = await f.api('/proxies/auto', { method: 'PUT', body: JSON.stringify({ name: 'spare' }) });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { message: 'Must be a Selector' });
    res = await f.api('/proxies/pick', { method: 'PUT', body: JSON.stringify({ name: 'out' }) });
    assert.equal(res.status, 204);
    const client = await openFlow(f.inboundPort);
    client.destroy();
  });

  it('GET /proxies/:member/delay goes through the runtime: the result is in the group member\'s history; 503 through a block member', async () => {
    const before = (await f.sluice.groups()).find((g) => g.tag === 'pick')!.health.find((m) => m.tag === 'out')!.history.length;
    let res = await f.api(`/proxies/out/delay?url=${encodeURIComponent(webUrl)}&timeout=5000`);
    const { delay } = await json<{ delay: number }>(res);
    assert.ok(Number.isInteger(delay) && delay > 0, `delay ${delay}`);
    const health = (await f.sluice.groups()).find((g) => g.tag === 'pick')!.health.find((m) => m.tag === 'out')!;
    assert.equal(health.history.length, before + 1);
    const out = await json<Proxy>(await f.api('/proxies/out'));
    assert.equal(out.history[out.history.length - 1]!.delay, delay);
    assert.equal(out.history[out.history.length - 1]!.time, new Date(health.history[health.history.length - 1]!.time).toISOString());
    res = await f.api(`/proxies/blocker/delay?url=${encodeURIComponent(webUrl)}&timeout=2000`);
    assert.equal(res.status, 503);
    assert.equal(typeof ((await res.json()) as { message: unknown }).message, 'string');
    const blocker = await json<Proxy>(await f.api('/proxies/blocker'));
    assert.equal(blocker.alive, false);
    assert.equal(blocker.history[blocker.history.length - 1]!.delay, 0);
  });

  it('GET /group/:name/delay tests every member through the runtime; 404 for an outbound', async () => {
    const body = await json<Record<string, number>>(await f.api(`/group/auto/delay?url=${encodeURIComponent(webUrl)}&timeout=5000`));
    assert.deepEqual(Object.keys(body).sort(), ['out', 'spare']);
    for (const v of Object.values(body)) assert.ok(Number.isInteger(v) && v > 0);
    const pick = await json<Record<string, number>>(await f.api(`/group/pick/delay?url=${encodeURIComponent(webUrl)}&timeout=2000`));
    assert.deepEqual(Object.keys(pick), ['out']);
    assert.equal((await f.api(`/group/out/delay?url=${encodeURIComponent(webUrl)}&timeout=2000`)).status, 404);
  });

  it('GET /rules: mihomo type names for domain, CIDR, port, rule-set, Clash-line and logical rules; a rule set has its size', async () => {
    const { rules } = await json<{ rules: Record<string, unknown>[] }>(await f.api('/rules'));
    assert.deepEqual(
      rules.map(({ type, payload, proxy, size }) => ({ type, payload, proxy, size })),
      [
        { type: 'DstPort', payload: String(f.echo.address.port), proxy: 'pick', size: -1 },
        { type: 'DomainSuffix', payload: 'example.com', proxy: 'auto', size: -1 },
        { type: 'Domain', payload: 'a.example.org', proxy: 'out', size: -1 },
        { type: 'DomainKeyword', payload: 'tracker', proxy: 'blocker', size: -1 },
        { type: 'DomainRegex', payload: '^ads\\.', proxy: 'blocker', size: -1 },
        { type: 'IPCIDR', payload: '10.0.0.0/8', proxy: 'out', size: -1 },
        { type: 'SrcIPCIDR', payload: '192.168.0.0/16', proxy: 'out', size: -1 },
        { type: 'SrcPort', payload: '1234', proxy: 'out', size: -1 },
        { type: 'RuleSet', payload: 'ads', proxy: 'blocker', size: 3 },
        { type: 'DomainSuffix', payload: 'clash.example', proxy: 'auto', size: -1 },
        { type: 'IPCIDR', payload: '172.16.0.0/12', proxy: 'out', size: -1 },
        { type: 'AND', payload: '((DOMAIN,b.example.org),(NETWORK,UDP))', proxy: 'blocker', size: -1 },
        { type: 'OR', payload: '((DOMAIN,c.example.org),(DST-PORT,8443))', proxy: 'out', size: -1 },
        { type: 'Match', payload: '', proxy: 'auto', size: -1 },
      ],
    );
    assert.deepEqual(
      rules.map((r) => r.index),
      rules.map((_, i) => i),
    );
  });

  it('GET /rules: hits counts the flows each rule matched', async () => {
    const hitsOf = async (): Promise<number[]> => (await json<{ rules: { hits: number }[] }>(await f.api('/rules'))).rules.map((r) => r.hits);
    const before = await hitsOf();
    for (const payload of ['one', 'two']) {
      const client = await openFlow(f.inboundPort, payload);
      client.destroy();
    }
    const after = await hitsOf();
    // Both flows go to the echo server's port: the first rule (dst_port) matched them, no other rule did.
    assert.deepEqual(after, before.map((n, i) => (i === 0 ? n + 2 : n)));
  });

  it('GET /connections: a flow shows its rule in mihomo\'s type name and the group chain', async () => {
    const client = await openFlow(f.inboundPort, 'abc');
    try {
      const { connections } = await json<{ connections: { rule: string; rulePayload: string; chains: string[]; metadata: Record<string, string> }[] }>(await f.api('/connections'));
      const c = connections.find((x) => x.metadata.sourcePort === String(client.localPort));
      assert.ok(c, JSON.stringify(connections));
      assert.equal(c.rule, 'DstPort');
      assert.equal(c.rulePayload, String(f.echo.address.port));
      assert.deepEqual(c.chains, ['out', 'pick']);
    } finally {
      client.destroy();
    }
  });

  it('GET /providers/rules: each rule set with its type, behavior, count, update time and vehicle', async () => {
    const { providers } = await json<{ providers: Record<string, Record<string, unknown>> }>(await f.api('/providers/rules'));
    assert.deepEqual(Object.keys(providers), ['ads']);
    assert.deepEqual(providers.ads, {
      name: 'ads',
      type: 'Rule',
      behavior: 'Classical',
      ruleCount: 3,
      updatedAt: statSync(ruleSetPath).mtime.toISOString(),
      vehicleType: 'File',
      format: 'TextRule',
    });
  });

  it('GET /metrics: sluice_dns_queries_total{result} follows the resolver\'s counters', async () => {
    const answer = dnsPacket.decode(await udpQuery(dnsPort, dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'static.test', class: 'IN' }] })));
    assert.equal((answer as unknown as { rcode: string }).rcode, 'NOERROR');
    await udpQuery(dnsPort, Buffer.from([0, 1, 2]));
    const counters = f.sluice.dnsCounters!;
    const text = await (await f.api('/metrics')).text();
    const value = (result: string): number => Number(new RegExp(`^sluice_dns_queries_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
    assert.equal(value('malformed'), counters.malformed);
    assert.ok(counters.malformed >= 1);
    assert.equal(value('cache_hit'), counters.cacheHits);
    assert.equal(value('upstream_error'), counters.upstreamErrors);
    assert.equal(value('answered'), counters.queries - counters.cacheHits - counters.upstreamErrors - counters.malformed);
    assert.ok(value('answered') >= 1);
  });
});
