import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  blockOutbound,
  createSluice,
  FallbackGroup,
  groupOutbounds,
  isConfigError,
  isTcpFdDialer,
  LoadBalanceGroup,
  mergeGroupStates,
  parseConfig,
  planOutbounds,
  probeHttp,
  SelectorGroup,
  siteKey,
  UrlTestGroup,
  WorkerPool,
  type DelayResult,
  type FlowContext,
  type FlowMetadata,
  type GroupParts,
  type GroupState,
  type Outbound,
  type OutboundDefinition,
  type OutboundEntry,
  type Prober,
} from '@sluice/core';
import { createFlowHarness, createMockBinding } from '@sluice/core/testing';
import { directOptions, directOutbound } from '@sluice/plugin-direct';
import { captureLogger, FakeDatagramPort, FakeOutbound, flow, waitUntil } from './fakes';

const repoRoot = path.resolve(__dirname, '..', '..', '..', '..');

/** A prober whose answer per member the test sets; a member without one fails. */
class ScriptedProber {
  readonly delays = new Map<string, number>();
  readonly calls: string[] = [];
  readonly probe: Prober = async (member) => {
    this.calls.push(member.tag);
    const d = this.delays.get(member.tag);
    return d === undefined ? { ok: false, timeout: false, error: 'down' } : { ok: true, delayMs: d };
  };
}

function parts(members: Outbound[], prober: ScriptedProber, interval_ms = 60_000): GroupParts {
  const { logger } = captureLogger();
  return { tag: 'g', members, check: { url: 'http://check.test/', interval_ms, timeout_ms: 1000, lazy: true }, logger, prober: prober.probe };
}

/** Which member a group would dial first for `f` (the choice, recorded without dialling). */
async function choice(group: Outbound, f: FlowMetadata = flow()): Promise<string> {
  let chosen = '';
  const ctx: FlowContext = { flow: f, logger: captureLogger().logger, signal: new AbortController().signal, recordChoice: (_g, m) => (chosen = m) };
  await group.dialTcp(f.dst, ctx).then(
    (s) => s.destroy(),
    () => undefined,
  );
  return chosen;
}

/** A fake outbound whose TCP dials "succeed" with a stream that is destroyed at once. */
function member(tag: string): FakeOutbound {
  const o = new FakeOutbound(tag);
  o.onDialTcp = async () => new (await import('node:stream')).PassThrough();
  return o;
}

describe('outbound groups', () => {
  describe('fallback', () => {
    it('goes to the first healthy member; a failed check moves it on, a good one brings it back', async () => {
      const p = new ScriptedProber();
      const [a, b] = [member('a'), member('b')];
      const g = new FallbackGroup('g', [a, b], parts([a, b], p));
      assert.equal(await choice(g), 'a', 'members start healthy');
      p.delays.set('b', 20);
      await g.testAll();
      assert.equal(g.state().now, 'b');
      assert.equal(await choice(g), 'b');
      assert.equal(g.state().health.find((m) => m.tag === 'a')!.alive, false);
      p.delays.set('a', 30);
      await g.testAll();
      assert.equal(await choice(g), 'a');
      await g.close();
    });

    it('a dial failure on a real flow marks the member down, the flow goes to the next, and the member is re-checked sooner', async () => {
      const p = new ScriptedProber();
      const [a, b] = [member('a'), member('b')];
      a.onDialTcp = () => Promise.reject(new Error('ECONNREFUSED'));
      // A 100 ms interval re-checks a down member after 100 ms (a tenth, at least 1 s, at most the interval).
      const g = new FallbackGroup('g', [a, b], { ...parts([a, b], p, 100), check: { url: 'http://check.test/', interval_ms: 100, timeout_ms: 1000, lazy: true } });
      assert.equal(await choice(g), 'b');
      assert.equal(a.tcpDials.length, 1);
      const down = g.state().health.find((m) => m.tag === 'a')!;
      assert.equal(down.alive, false);
      assert.match(down.error!, /ECONNREFUSED/);
      p.delays.set('a', 5);
      await waitUntil(() => g.state().health.find((m) => m.tag === 'a')!.alive, 'the re-check to bring a back');
      assert.ok(p.calls.includes('a'));
      await g.close();
    });

    it('lazy: no check until a flow used the group', async () => {
      const p = new ScriptedProber();
      const [a, b] = [member('a'), member('b')];
      const g = new FallbackGroup('g', [a, b], parts([a, b], p, 100));
      await g.start();
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(p.calls, [], 'an unused lazy group is never checked');
      await choice(g);
      await waitUntil(() => p.calls.length >= 2, 'a check after the first flow');
      await g.close();
    });
  });

  describe('url-test', () => {
    it('switches only when another member is faster by more than tolerance_ms, and at once when its member goes down', async () => {
      const p = new ScriptedProber();
      const [a, b, c] = [member('a'), member('b'), member('c')];
      const g = new UrlTestGroup('g', [a, b, c], parts([a, b, c], p), 50);
      p.delays.set('a', 100).set('b', 80).set('c', 200);
      await g.testAll();
      assert.equal(g.state().now, 'a', 'b is faster by 20 ms only');
      p.delays.set('b', 40);
      await g.testAll();
      assert.equal(g.state().now, 'b', 'b is faster by 60 ms');
      assert.equal(await choice(g), 'b');
      p.delays.delete('b');
      await g.testAll();
      assert.equal(g.state().now, 'a', 'b went down: the fastest healthy one');
      const a1 = g.state().health.find((m) => m.tag === 'a')!;
      assert.equal(a1.delayMs, 100);
      assert.ok(a1.checkedAt! > 0);
      assert.deepEqual(
        g.state().health.find((m) => m.tag === 'b')!.history.map((h) => h.delayMs),
        [80, 40, 0],
      );
      await g.close();
    });
  });

  describe('reload', () => {
    it('the group of a new config takes over its predecessor\'s member health and url-test choice', async () => {
      const p = new ScriptedProber();
      const [a, b] = [member('a'), member('b')];
      p.delays.set('b', 10);
      const old = new UrlTestGroup('g', [a, b], parts([a, b], p), 50);
      await old.testAll();
      assert.equal(old.state().now, 'b');
      const [a2, b2] = [member('a'), member('b')];
      const next = new UrlTestGroup('g', [a2, b2], parts([a2, b2], p), 50);
      next.adopt(old.state());
      assert.equal(next.state().now, 'b');
      assert.deepEqual(next.state().health, old.state().health);
      assert.equal(await choice(next), 'b', 'a is known to be down');
      await old.close();
      await next.close();
    });
  });

  describe('load-balance', () => {
    const hosts = Array.from({ length: 400 }, (_, i) => `www.site${i}.co.uk`);
    const flowTo = (host: string, src = '198.18.1.2'): FlowMetadata => flow({ dst: { address: '198.19.2.2', port: 443, host }, src: { address: src, port: 40000 } });

    it('consistent-hashing keeps a site on one member, and a member going down moves only its own sites', async () => {
      const p = new ScriptedProber();
      const ms = ['a', 'b', 'c', 'd'].map(member);
      for (const m of ms) p.delays.set(m.tag, 1);
      const g = new LoadBalanceGroup('g', ms, parts(ms, p), 'consistent-hashing', 1000);
      const before = new Map<string, string>();
      for (const h of hosts) before.set(h, await choice(g, flowTo(h)));
      assert.equal(await choice(g, flowTo('img.site7.co.uk')), before.get('www.site7.co.uk'), 'same registrable domain, same member');
      assert.equal(siteKey(flowTo('a.b.example.co.uk')), 'example.co.uk');
      assert.equal(siteKey(flow()), '198.19.2.2', 'no host: the destination IP');
      const spread = new Set(before.values());
      assert.equal(spread.size, 4, 'every member gets sites');
      p.delays.delete('c');
      await g.testAll();
      for (const h of hosts) {
        const now = await choice(g, flowTo(h));
        if (before.get(h) === 'c') assert.notEqual(now, 'c');
        else assert.equal(now, before.get(h), `${h} moved from ${before.get(h)} to ${now}`);
      }
      await g.close();
    });

    it('round-robin takes the healthy members in turn', async () => {
      const p = new ScriptedProber();
      const ms = ['a', 'b', 'c'].map(member);
      for (const m of ms) p.delays.set(m.tag, 1);
      const g = new LoadBalanceGroup('g', ms, parts(ms, p), 'round-robin', 1000);
      const seq: string[] = [];
      for (let i = 0; i < 6; i++) seq.push(await choice(g));
      assert.deepEqual(seq, ['a', 'b', 'c', 'a', 'b', 'c']);
      p.delays.delete('b');
      await g.testAll();
      seq.length = 0;
      for (let i = 0; i < 4; i++) seq.push(await choice(g));
      assert.deepEqual([...new Set(seq)].sort(), ['a', 'c']);
      assert.notEqual(seq[0], seq[1]);
      await g.close();
    });

    it('sticky-sessions keeps a source and destination on their member until the entry expires', async () => {
      const p = new ScriptedProber();
      const ms = ['a', 'b'].map(member);
      let now = 1_000_000;
      p.delays.set('a', 1).set('b', 1);
      const g = new LoadBalanceGroup('g', ms, parts(ms, p), 'sticky-sessions', 10_000, () => now);
      const f = flowTo('one.example.com');
      const hashed = await choice(g, f);
      const other = hashed === 'a' ? 'b' : 'a';
      // Its hashed member goes down: the pair moves to the other and stays there when the first comes back.
      p.delays.delete(hashed);
      await g.testAll();
      assert.equal(await choice(g, f), other);
      p.delays.set(hashed, 1);
      await g.testAll();
      now += 9_000;
      assert.equal(await choice(g, f), other, 'kept: used within the TTL');
      now += 9_000;
      assert.equal(await choice(g, f), other, 'each use renews the TTL');
      now += 10_001;
      assert.equal(await choice(g, f), hashed, 'expired: placed by hashing again');
      await g.close();
    });
  });

  describe('selector and the fast paths', () => {
    it('select() changes the member; a non-member is refused by name', async () => {
      const p = new ScriptedProber();
      const [a, b] = [member('a'), member('b')];
      const g = new SelectorGroup('g', [a, b], { ...parts([a, b], p), check: undefined }, 'b');
      assert.equal(await choice(g), 'b');
      g.select('a');
      assert.equal(await choice(g), 'a');
      assert.throws(() => g.select('zz'), /"zz" is not a member of selector "g" \(members: a, b\)/);
      const fb = new FallbackGroup('f', [a], parts([a], p));
      assert.throws(() => fb.select('a'), /is a fallback group, not a selector/);
      await g.close();
      await fb.close();
    });

    it('offers dialTcpFd when every TCP member does (a group of direct keeps the kernel relay), not otherwise', async () => {
      const { logger } = captureLogger();
      const deps = (tag: string) => ({ tag, logger, resolve: () => assert.fail(), service: () => assert.fail() });
      const d1 = directOutbound.create(directOptions.parse({}), deps('d1'));
      const d2 = directOutbound.create(directOptions.parse({}), deps('d2'));
      const p = new ScriptedProber();
      const direct = new FallbackGroup('g', [d1, d2], parts([d1, d2], p));
      assert.ok(isTcpFdDialer(direct));
      const outer = new FallbackGroup('o', [direct], parts([direct], p));
      assert.ok(isTcpFdDialer(outer), 'nested groups pass it on');
      const mixed = new FallbackGroup('m', [d1, member('x')], parts([d1], p));
      assert.equal(isTcpFdDialer(mixed), false);
      assert.deepEqual(mixed.networks, ['tcp', 'udp']);
      for (const g of [direct, outer, mixed]) await g.close();
    });

    it('a flow goes only to a member carrying its network; networks are the union', async () => {
      const p = new ScriptedProber();
      const tcpOnly = member('t');
      tcpOnly.networks = ['tcp'];
      const both = member('u');
      const g = new FallbackGroup('g', [tcpOnly, both], parts([tcpOnly, both], p));
      assert.deepEqual(g.networks, ['tcp', 'udp']);
      let chosen = '';
      const ctx: FlowContext = { flow: flow({ network: 'udp' }), logger: captureLogger().logger, signal: new AbortController().signal, recordChoice: (_g, m) => (chosen = m) };
      await g.dialUdp(ctx);
      assert.equal(chosen, 'u');
      await g.close();
    });
  });

  describe('chain', () => {
    it('the access line and both flow events carry the group path; a member that failed is replaced by the one that carried the flow', async () => {
      const { logger } = captureLogger();
      const p = new ScriptedProber();
      const dead = member('socks-dead');
      dead.onDialUdp = () => Promise.reject(new Error('ECONNREFUSED'));
      const ok = member('socks-hk');
      const inner = new FallbackGroup('hk-auto', [dead, ok], { ...parts([dead, ok], p), tag: 'hk-auto' });
      const outer = new SelectorGroup('proxy-group', [inner], { ...parts([inner], p), check: undefined });
      const h = createFlowHarness({ outbounds: [outer, inner, dead, ok], route: 'proxy-group', logger });
      h.sink.onDatagram(Buffer.from('x'), { address: '198.18.1.2', port: 5000 }, { address: '198.19.2.2', port: 53 }, new FakeDatagramPort('in4'));
      await waitUntil(() => ok.channels.length === 1, 'the session to reach socks-hk');
      h.closeAll('test');
      await waitUntil(() => h.closed.length === 1, 'the closed event');
      assert.equal(h.closed[0]!.chain, 'proxy-group > hk-auto > socks-hk');
      assert.equal(h.closed[0]!.outbound, 'proxy-group');
      // The flow event names the member tried first (the dial had just started).
      assert.equal(h.routed[0]!.chain, 'proxy-group > hk-auto > socks-dead');
      await inner.close();
    });
  });

  describe('config', () => {
    const defs = new Map<string, OutboundDefinition>([...groupOutbounds, blockOutbound].map((d) => [d.type, d as OutboundDefinition]));
    const entry = (tag: string, type: string, raw: Record<string, unknown>, i: number): OutboundEntry => ({ tag, type, raw: { tag, type, ...raw }, path: `outbounds[${i}]` });

    it('a cycle through groups is an error naming the cycle', () => {
      assert.throws(
        () => planOutbounds([entry('x', 'block', {}, 0), entry('y', 'block', {}, 1), entry('z', 'block', {}, 2), entry('a', 'selector', { outbounds: ['x', 'b'] }, 3), entry('b', 'fallback', { outbounds: ['a', 'y'] }, 4)], defs),
        (err: unknown) => isConfigError(err) && err.message === 'outbounds[3]: group cycle a -> b -> a',
      );
      assert.throws(
        () => planOutbounds([entry('a', 'url-test', { outbounds: ['a'] }, 0)], defs),
        (err: unknown) => isConfigError(err) && err.message === 'outbounds[0]: group cycle a -> a',
      );
    });

    it('names bad group keys by path', () => {
      assert.throws(
        () =>
          planOutbounds(
            [
              entry('x', 'block', {}, 0),
              entry('s', 'selector', { outbounds: ['x', 'nope'], default: 'zz' }, 1),
              entry('l', 'load-balance', { outbounds: ['x'], strategy: 'random', check: { url: 'https://a/', lazy: 1 } }, 2),
            ],
            defs,
          ),
        (err: unknown) => {
          assert.ok(isConfigError(err));
          assert.deepEqual(err.issues.map((i) => i.path).sort(), ['outbounds[1].default', 'outbounds[2].check.lazy', 'outbounds[2].check.url', 'outbounds[2].strategy']);
          return true;
        },
      );
      assert.throws(
        () => planOutbounds([entry('s', 'selector', { outbounds: ['x', 'nope'] }, 0), entry('x', 'block', {}, 1)], defs),
        (err: unknown) => isConfigError(err) && err.message === 'outbounds[0].outbounds[1]: unknown outbound "nope"',
      );
    });

    it('select() is kept across a reload while the member exists, and dropped when it is gone', async () => {
      const config = (members: string[]) =>
        parseConfig(
          JSON.stringify({
            inbounds: [{ tag: 'in4', type: 'tproxy', listen: '127.0.0.1', port: 20000 + (process.pid % 20000) }],
            outbounds: [...members.map((m) => ({ tag: m, type: 'block' })), { tag: 'pick', type: 'selector', outbounds: members }],
            route: { rules: [], final: 'pick' },
          }),
          { baseDir: repoRoot },
        );
      const { logger } = captureLogger();
      const sluice = createSluice(config(['a', 'b', 'c']), { logger, native: createMockBinding() });
      await sluice.start();
      try {
        assert.equal((await sluice.groups())[0]!.now, 'a');
        await sluice.select('pick', 'c');
        await assert.rejects(sluice.select('pick', 'zz'), /"zz" is not a member/);
        await assert.rejects(sluice.select('a', 'b'), /is a block outbound, not a group/);
        await sluice.reload(config(['a', 'b', 'c', 'd']));
        const [g] = await sluice.groups();
        assert.deepEqual({ tag: g!.tag, type: g!.type, members: g!.members, now: g!.now }, { tag: 'pick', type: 'selector', members: ['a', 'b', 'c', 'd'], now: 'c' });
        await sluice.reload(config(['a', 'b']));
        assert.equal((await sluice.groups())[0]!.now, 'a', 'c is gone: the default again');
      } finally {
        await sluice.stop(100);
      }
    });
  });

  describe('HTTP probe', () => {
    it('sends GET with Host and Connection: close through the outbound and times the status line', async () => {
      let seen: http.IncomingHttpHeaders | undefined;
      const server = http.createServer((req, res) => {
        seen = req.headers;
        res.writeHead(204).end();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as AddressInfo).port;
      const { logger } = captureLogger();
      const direct = directOutbound.create(directOptions.parse({}), { tag: 'd', logger, resolve: () => assert.fail(), service: () => assert.fail() });
      try {
        const r: DelayResult = await probeHttp(direct, `http://127.0.0.1:${port}/generate_204`, 2000, logger);
        assert.ok(r.ok, JSON.stringify(r));
        assert.ok(r.delayMs >= 1);
        assert.equal(seen?.host, `127.0.0.1:${port}`);
        assert.equal(seen?.connection, 'close');
        server.close();
        const refused = await probeHttp(direct, `http://127.0.0.1:${port}/`, 2000, logger);
        assert.equal(refused.ok, false);
        assert.equal(!refused.ok && refused.timeout, false);
      } finally {
        server.close();
        await direct.close();
      }
    });
  });
});

describe('outbound groups in a worker pool', () => {
  it('select() reaches the workers, groups() answers for the pool, errors come back by name', async function () {
    this.timeout(30_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-groups-pool-'));
    const file = path.join(dir, 'c.yaml');
    const port = 22000 + (process.pid % 20000);
    fs.writeFileSync(
      file,
      `log: { level: warn }\ninbounds: [{ tag: in4, type: tproxy, listen: 127.0.0.1, port: ${port}, network: [tcp] }]\noutbounds:\n  - { tag: a, type: block }\n  - { tag: b, type: block }\n  - { tag: pick, type: selector, outbounds: [a, b] }\nroute: { final: pick }\n`,
    );
    const { logger } = captureLogger();
    const pool = new WorkerPool(file, 2, logger, 'thread');
    await pool.start();
    try {
      await pool.select('pick', 'b');
      const [g] = await pool.groups();
      assert.deepEqual({ tag: g!.tag, now: g!.now, members: g!.members }, { tag: 'pick', now: 'b', members: ['a', 'b'] });
      await assert.rejects(pool.select('pick', 'zz'), (err: Error & { code?: string }) => err.code === 'SLUICE_ERR_CONFIG' && /"zz" is not a member/.test(err.message));
      const delays = await pool.testGroupDelay('pick', { url: 'http://127.0.0.1:9/', timeoutMs: 1000 });
      assert.deepEqual(Object.keys(delays).sort(), ['a', 'b']);
      assert.equal(delays.a!.ok, false);
    } finally {
      await pool.stop(0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('merges the workers: the first one\'s choice, each member as last tested by any worker', () => {
    const state = (now: string, checkedAt: number, delayMs: number): GroupState => ({
      tag: 'g',
      type: 'url-test',
      members: ['a'],
      now,
      health: [{ tag: 'a', alive: true, delayMs, checkedAt, history: [{ time: checkedAt, delayMs }] }],
    });
    const [merged] = mergeGroupStates([[state('a', 100, 10)], [state('a', 200, 20)], [state('a', 150, 30)]]);
    assert.equal(merged!.health[0]!.delayMs, 20);
    assert.deepEqual(mergeGroupStates([]), []);
  });
});
