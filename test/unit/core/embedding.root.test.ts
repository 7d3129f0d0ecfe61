import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import {
  ErrorCode,
  defineOutbound,
  definePlugin,
  createSluice,
  isSluiceError,
  parseConfig,
  type FlowClosedEvent,
  type FlowRoutedEvent,
  type Outbound,
  type SluicePlugin,
  type RoutingHook,
  type Sluice,
} from '@sluice/core';
import { native, type NativeBinding, type UdpDatagram } from '@sluice/native';
import { FakeChannel, captureLogger, waitUntil } from './fakes';

/**
 * The real binding, except that the TCP listener a config names is opened on
 * a free port instead. Without TPROXY a connection's original destination is
 * the listener it reached; on that other port it is not a Sluice listener,
 * so the loop guard lets the flow through to the outbounds.
 */
function bindingWithSpareListener(): { binding: NativeBinding; port: () => number } {
  const real = native();
  let port = 0;
  const binding: NativeBinding = {
    ...real,
    openTransparentListener: (o) => {
      const fd = real.openTransparentListener({ ...o, port: 0 });
      port = real.localAddress(fd).port;
      return fd;
    },
    UdpTransparentSocket: FakeUdpSocket as unknown as NativeBinding['UdpTransparentSocket'],
  };
  return { binding, port: () => port };
}

/** Stands in for the native transparent UDP socket: the test injects datagrams; it offers no session relay. */
class FakeUdpSocket {
  static last?: FakeUdpSocket;
  readonly fd = -1;
  constructor(
    _options: unknown,
    readonly onBatch: (d: UdpDatagram[]) => void,
  ) {
    FakeUdpSocket.last = this;
  }
  send(): boolean {
    return true;
  }
  close(): [] {
    return [];
  }
}

/** An outbound of type `test` as the factory made it: records its lifecycle and dials a loopback echo server. */
class TestOutbound implements Outbound {
  readonly type = 'test';
  readonly networks = ['tcp', 'udp'] as const;
  dials = 0;
  channels: FakeChannel[] = [];
  started = false;
  closed = false;
  constructor(
    readonly tag: string,
    readonly generation: number,
    private readonly world: TestWorld,
  ) {}
  async start(): Promise<void> {
    this.world.log.push(`start ${this.name}`);
    await this.world.startGates.get(this.tag);
    this.started = true;
  }
  dialTcp(): Promise<Duplex> {
    this.dials++;
    if (this.world.failDials) return Promise.reject(new Error('test: upstream unreachable'));
    const s = net.connect({ port: this.world.echoPort, host: '127.0.0.1', allowHalfOpen: true });
    return new Promise((resolve, reject) => s.once('connect', () => resolve(s)).once('error', reject));
  }
  async dialUdp(): Promise<FakeChannel> {
    const c = new FakeChannel();
    this.channels.push(c);
    return c;
  }
  async close(): Promise<void> {
    this.world.log.push(`close ${this.name}`);
    this.closed = true;
  }
  /** `tag#generation`: generation 1 is made by start(), 2 by the first reload. */
  get name(): string {
    return `${this.tag}#${this.generation}`;
  }
}

/** What the `test` outbounds share with the test. */
interface TestWorld {
  echoPort: number;
  made: TestOutbound[];
  /** Ordered record of outbound starts/closes and flow ends. */
  log: string[];
  /** A tag's start() waits on its gate. */
  startGates: Map<string, Promise<void>>;
  failDials: boolean;
}

/** A plugin with the `test` outbound type, given to createSluice in code. */
function testPlugin(world: TestWorld): SluicePlugin {
  const generations = new Map<string, number>();
  const options = { safeParse: (raw: unknown) => ({ success: true as const, data: raw as Record<string, never> }) };
  return definePlugin({
    name: 'test-plugin',
    sluice: '*',
    outbounds: [
      defineOutbound({
        type: 'test',
        options,
        create: (_o, deps) => {
          const generation = (generations.get(deps.tag) ?? 0) + 1;
          generations.set(deps.tag, generation);
          const out = new TestOutbound(deps.tag, generation, world);
          world.made.push(out);
          return out;
        },
      }),
    ],
  });
}

async function echoServer(): Promise<{ port: number; close(): void }> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (d: Buffer) => s.write(`echo:${d.toString()}`));
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

const repoRoot = path.resolve(__dirname, '..', '..', '..', '..');

/** A config with a `tproxy` inbound (TCP unless told) and `test` outbounds `a` and `b`; everything goes to `final`. */
function config(final: string, extraOutbounds: Record<string, unknown>[] = [], network = ['tcp'], route: Record<string, unknown> = {}) {
  return parseConfig(
    JSON.stringify({
      inbounds: [{ tag: 'in4', type: 'tproxy', listen: '127.0.0.1', port: 15081, network }],
      outbounds: [{ tag: 'a', type: 'test' }, { tag: 'b', type: 'test' }, ...extraOutbounds],
      route: { rules: [], final, ...route },
      relay: { splice: false, native_udp: false },
    }),
    { baseDir: repoRoot },
  );
}

/** A client connection through the running Sluice that echoes line by line. */
class Client {
  readonly socket: net.Socket;
  private received = '';
  error: string | undefined;
  readonly closed: Promise<void>;
  constructor(port: number) {
    this.socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    this.socket.on('data', (d: Buffer) => (this.received += d.toString()));
    this.socket.on('error', (e: NodeJS.ErrnoException) => (this.error = e.code));
    this.closed = new Promise((r) => this.socket.once('close', () => r()));
  }
  /** Sends `text` and waits for its echo. */
  async roundTrip(text: string): Promise<void> {
    const before = this.received.length;
    this.socket.write(text);
    await waitUntil(() => this.received.slice(before) === `echo:${text}`, `the echo of ${text}`);
  }
  async end(): Promise<void> {
    this.socket.end();
    await this.closed;
  }
}

describe('Embedding: createSluice, events, reload, stop', () => {
  let world: TestWorld;
  let echo: { port: number; close(): void };
  let sluice: Sluice | undefined;

  beforeEach(async () => {
    echo = await echoServer();
    world = { echoPort: echo.port, made: [], log: [], startGates: new Map(), failDials: false };
  });
  afterEach(async () => {
    await sluice?.stop(0);
    sluice = undefined;
    echo.close();
  });

  /** Starts a Sluice on `config('a')` with the `test` outbounds; returns it and the port clients connect to. */
  async function startSluice(opts: { network?: string[]; route?: Record<string, unknown>; routingHook?: RoutingHook } = {}) {
    const { logger, lines } = captureLogger();
    const { binding, port } = bindingWithSpareListener();
    const s = createSluice(config('a', [], opts.network, opts.route), { logger, native: binding, plugins: [testPlugin(world)], routingHook: opts.routingHook });
    sluice = s;
    const routed: FlowRoutedEvent[] = [];
    const closed: FlowClosedEvent[] = [];
    s.on('flow', (e) => routed.push(e));
    s.on('flow:closed', (e) => {
      closed.push(e);
      world.log.push(`flow closed ${e.outbound}`);
    });
    await s.start();
    return { sluice: s, port: port(), routed, closed, lines };
  }
  const outbound = (name: string): TestOutbound => {
    const o = world.made.find((m) => m.name === name);
    assert.ok(o, `outbound ${name} was made`);
    return o;
  };

  it("emits 'flow' when a flow is routed and 'flow:closed' with the access-log fields when it ends", async () => {
    const { port, routed, closed, lines } = await startSluice();
    const c = new Client(port);
    await c.roundTrip('hi');
    assert.equal(routed.length, 1);
    const r = routed[0];
    assert.equal(typeof r.id, 'string');
    assert.equal(r.network, 'tcp');
    assert.equal(r.src, `127.0.0.1:${c.socket.localPort}`);
    assert.equal(r.dst, `127.0.0.1:${port}`);
    assert.equal(r.inbound, 'in4');
    assert.equal(r.rule, 'final');
    assert.equal(r.outbound, 'a');
    assert.equal(closed.length, 0, 'not closed while open');
    await c.end();
    await waitUntil(() => closed.length === 1, 'flow:closed');
    const e = closed[0];
    assert.equal(e.flowId, r.id);
    assert.deepEqual(
      { network: e.network, src: e.src, dst: e.dst, inbound: e.inbound, rule: e.rule, outbound: e.outbound, up: e.up, down: e.down, error: e.error },
      { network: 'tcp', src: r.src, dst: r.dst, inbound: 'in4', rule: 'final', outbound: 'a', up: 2, down: 7, error: undefined },
    );
    assert.equal(typeof e.durationMs, 'number');
    // Exactly the access-log line's fields.
    const line = lines.find((l) => l.msg === 'flow closed' && l.flowId === r.id)!;
    const { level: _l, time: _t, pid: _p, hostname: _h, msg: _m, component: _c, ...fields } = line;
    assert.deepEqual(Object.keys(fields).sort(), Object.keys(e).sort());

    // A failed flow carries its error.
    world.failDials = true;
    const failed = new Client(port);
    await failed.closed;
    await waitUntil(() => closed.length === 2, 'flow:closed of the failed flow');
    assert.equal(closed[1].error, 'test: upstream unreachable');
    assert.equal(failed.error, 'ECONNRESET');
  });

  it('asks the routing hook first; past route.hook_timeout_ms the rules decide, with a warning', async () => {
    const answers: Promise<string | undefined>[] = [Promise.resolve('b'), new Promise(() => {})];
    const { port, routed, lines } = await startSluice({ route: { hook_timeout_ms: 50 }, routingHook: () => answers.shift() });
    const hooked = new Client(port);
    await hooked.roundTrip('1');
    const late = new Client(port);
    await late.roundTrip('2');
    assert.deepEqual(
      routed.map((r) => [r.rule, r.outbound]),
      [
        ['hook', 'b'],
        ['final', 'a'],
      ],
    );
    const warned = lines.filter((l) => l.msg === 'routing hook timed out; the rules decide');
    assert.equal(warned.length, 1);
    assert.equal(warned[0].timeoutMs, 50, 'the config value applies when createSluice is given no hookTimeoutMs');
    await Promise.all([hooked.end(), late.end()]);
  });

  it('reload(): new flows take the new rules; an established flow keeps its outbound, which closes only after that flow ends', async () => {
    const { sluice: s, port, routed, closed } = await startSluice();
    const old = new Client(port);
    await old.roundTrip('before');
    assert.equal(routed[0].outbound, 'a');
    const reloaded: unknown[] = [];
    s.on('reloaded', (summary) => reloaded.push(summary));

    await s.reload(config('b'));
    assert.equal(reloaded.length, 1, "'reloaded' event");
    assert.equal(s.config.route.final, 'b');
    for (const name of ['a#2', 'b#2']) assert.ok(outbound(name).started, `${name} started by the reload`);
    assert.ok(!outbound('a#1').closed && !outbound('b#1').closed, 'the old outbounds stay open while a flow uses them');

    const fresh = new Client(port);
    await fresh.roundTrip('after');
    assert.equal(routed[1].outbound, 'b');
    assert.deepEqual([outbound('b#2').dials, outbound('b#1').dials], [1, 0], 'the new flow went to the new b');
    await fresh.end();
    await waitUntil(() => closed.length === 1, 'the new flow closed');

    await old.roundTrip('still going');
    assert.equal(outbound('a#1').dials, 1);
    assert.ok(!outbound('a#1').closed, 'still open while its flow lasts');
    await old.end();
    await waitUntil(() => outbound('a#1').closed && outbound('b#1').closed, 'the old outbounds closed');
    const flowEnd = world.log.indexOf('flow closed a');
    assert.ok(flowEnd >= 0 && flowEnd < world.log.indexOf('close a#1'), `the old flow ended before its outbound closed: ${world.log.join(', ')}`);
    assert.ok(!outbound('a#2').closed && !outbound('b#2').closed, 'the new outbounds stay open');
  });

  it('reload(): a UDP session keeps its outbound, which closes only after the session ends; new sessions take the new rules', async () => {
    const { sluice: s, routed } = await startSluice({ network: ['udp'] });
    const udp = FakeUdpSocket.last!;
    const datagram = (srcPort: number, text: string) =>
      udp.onBatch([{ data: Buffer.from(text), srcAddress: '127.0.0.9', srcPort, dstAddress: '198.19.2.2', dstPort: 53 }]);
    datagram(5001, 'q1');
    await waitUntil(() => outbound('a#1').channels[0]?.sent.length === 1, 'the session on a');
    await s.reload(config('b', [], ['udp']));
    datagram(5002, 'q2');
    await waitUntil(() => outbound('b#2').channels[0]?.sent.length === 1, 'the new session on the new b');
    assert.deepEqual(routed.map((r) => r.outbound), ['a', 'b']);
    datagram(5001, 'q3');
    await waitUntil(() => outbound('a#1').channels[0].sent.length === 2, 'the old session still on a#1');
    assert.ok(!outbound('a#1').closed, 'still open while its session lasts');
    outbound('a#1').channels[0].receiver!.onClose();
    await waitUntil(() => outbound('a#1').closed && outbound('b#1').closed, 'the old outbounds closed');
    const sessionEnd = world.log.indexOf('flow closed a');
    assert.ok(sessionEnd >= 0 && sessionEnd < world.log.indexOf('close a#1'), `the old session ended before its outbound closed: ${world.log.join(', ')}`);
  });

  it('reload() of an invalid config rejects with a ConfigError and keeps the running rules and outbounds', async () => {
    const { sluice: s, port, routed } = await startSluice();
    const bad = config('b', [{ tag: 'x', type: 'no-such-type' }]);
    await assert.rejects(s.reload(bad), (err: unknown) => {
      assert.ok(isSluiceError(err) && err.code === ErrorCode.CONFIG && 'issues' in err, `a ConfigError: ${String(err)}`);
      assert.match(err.message, /outbounds\[2\]\.type: unknown outbound type "no-such-type"/);
      return true;
    });
    assert.equal(s.config.route.final, 'a');
    const c = new Client(port);
    await c.roundTrip('x');
    assert.equal(routed[0].outbound, 'a', 'the old rules still apply');
    assert.equal(outbound('a#1').dials, 1);
    assert.ok(world.made.every((o) => o.generation === 1 && !o.closed));
    await c.end();
  });

  it('stop() during start() makes start reject and closes the outbounds already started', async () => {
    const { logger } = captureLogger();
    const { binding } = bindingWithSpareListener();
    let openGate!: () => void;
    world.startGates.set('b', new Promise<void>((r) => (openGate = r)));
    const s = createSluice(config('a', [{ tag: 'c', type: 'test' }]), { logger, native: binding, plugins: [testPlugin(world)] });
    const order: string[] = [];
    const starting = s.start();
    starting.catch(() => order.push('start rejected'));
    await waitUntil(() => world.log.includes('start b#1'), 'b starting');
    const stopping = s.stop().then(() => order.push('stop resolved'));
    openGate();
    await assert.rejects(starting, (err: unknown) => isSluiceError(err) && err.code === ErrorCode.SHUTDOWN);
    await stopping;
    assert.deepEqual(order, ['start rejected', 'stop resolved']);
    assert.ok(outbound('a#1').closed && outbound('b#1').closed, 'started outbounds closed');
    assert.ok(!world.log.includes('start c#1'), 'nothing started after the stop');
    await assert.rejects(s.start(), /cannot start a Sluice that is stopped/);
  });

  it('createSluice(path) loads the file when start() is called', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-embed-'));
    try {
      const file = path.join(dir, 'sluice.json');
      const { logger } = captureLogger();
      const { binding, port } = bindingWithSpareListener();
      const s = createSluice(file, { logger, native: binding });
      sluice = s;
      assert.throws(() => s.config, /loaded by start/);
      // Written after createSluice: only start() can have read it.
      fs.writeFileSync(
        file,
        JSON.stringify({
          inbounds: [{ tag: 'in4', type: 'tproxy', listen: '127.0.0.1', port: 15082, network: ['tcp'] }],
          outbounds: [{ tag: 'deny', type: 'block' }],
          route: { final: 'deny' },
          relay: { splice: false },
        }),
      );
      const closed: FlowClosedEvent[] = [];
      s.on('flow:closed', (e) => closed.push(e));
      await s.start();
      assert.equal(s.config.outbounds[0]?.tag, 'deny');
      const c = new Client(port());
      await c.closed;
      assert.equal(c.error, 'ECONNRESET');
      await waitUntil(() => closed.length === 1, 'flow:closed');
      assert.deepEqual([closed[0].outbound, closed[0].error], ['deny', 'blocked']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
