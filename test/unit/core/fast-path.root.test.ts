import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import { PassThrough, type Duplex } from 'node:stream';
import { BlockOutbound, ErrorCode, flowClosedChannel, spliceAvailable, type Destination, type FlowContext, type FlowMetadata, type Outbound, type TcpConnectPlan, type TcpConnectPlanner, type TcpFdDialer } from '@sluice/core';
import { createFlowHarness, type FlowHarness } from '@sluice/core/testing';
import { DirectOutbound } from '@sluice/plugin-direct';
import { forEachAccepted, native, type TcpAcceptor } from '@sluice/native';
import { captureLogger, waitUntil } from './fakes';

/**
 * The `direct` outbound aimed at a fixed local port (without TPROXY the
 * accepted connection's destination is the listener itself), counting which
 * of its dial methods the handler used.
 */
class Redirect implements Outbound {
  readonly type = 'direct';
  readonly networks = ['tcp'] as const;
  streams = 0;
  fds = 0;
  private readonly direct = new DirectOutbound('direct', { transparent: false }, native);
  constructor(
    readonly tag: string,
    private readonly port: () => number,
  ) {}
  dialTcp(dst: Destination, ctx: FlowContext): Promise<Duplex> {
    this.streams++;
    return this.direct.dialTcp({ ...dst, port: this.port() }, ctx);
  }
  dialTcpFd(dst: Destination, ctx: FlowContext): Promise<number> {
    this.fds++;
    return this.direct.dialTcpFd({ ...dst, port: this.port() }, ctx);
  }
  async close(): Promise<void> {}
}

/** {@link Redirect} that also plans its connects (as `direct` does): the relay then connects and relays in one step. */
class PlannedRedirect extends Redirect implements TcpConnectPlanner {
  plans = 0;
  private readonly planner: DirectOutbound;
  constructor(
    tag: string,
    private readonly target: () => number,
    private readonly plan = true,
    directOptions: ConstructorParameters<typeof DirectOutbound>[1] = { transparent: false },
  ) {
    super(tag, target);
    this.planner = new DirectOutbound('direct', directOptions, native);
  }
  planTcpConnect(dst: Destination, flow: FlowMetadata): TcpConnectPlan | undefined {
    this.plans++;
    return this.plan ? this.planner.planTcpConnect({ ...dst, port: this.target() }, flow) : undefined;
  }
}

/**
 * Runs `body` with the port of a loopback listener whose backlog is full:
 * a SYN to it gets no answer, so a connect stays in progress.
 */
async function withStuckListener(body: (port: number) => Promise<void>): Promise<void> {
  const n = native();
  const stuck = n.openTransparentListener({ address: '127.0.0.1', port: 0, backlog: 1 });
  const fillers: net.Socket[] = [];
  try {
    const port = n.localAddress(stuck).port;
    for (let i = 0; i < 8; i++) fillers.push(net.connect({ port, host: '127.0.0.1' }).on('error', () => {}));
    await new Promise((r) => setTimeout(r, 100));
    await body(port);
  } finally {
    fillers.forEach((f) => f.destroy());
    n.closeFd(stuck);
  }
}

type Mode = 'stream' | 'fd';

/** A loopback listener feeding `h().sink` the way the tproxy inbound does in `mode`. */
async function listen(h: () => FlowHarness, mode: Mode): Promise<{ port: number; close(): void }> {
  if (mode === 'stream') {
    const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (s) =>
      h().sink.accept(s, { address: s.remoteAddress!, port: s.remotePort! }, { address: s.localAddress!, port: s.localPort! }, 'in4'),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
  }
  const n = native();
  const fd = n.openTransparentListener({ address: '127.0.0.1', port: 0 });
  const port = n.localAddress(fd).port;
  const acceptor: TcpAcceptor = new n.TcpAcceptor(fd, (b) =>
    forEachAccepted(b, (connFd, srcAddress, srcPort, dstAddress, dstPort) =>
      h().sink.accept(connFd, { address: srcAddress, port: srcPort }, { address: dstAddress, port: dstPort }, 'in4'),
    ),
  );
  return { port, close: () => acceptor.close() };
}

async function echoServer(): Promise<{ port: number; close(): void }> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => s.on('data', (d: Buffer) => s.end(`echo:${d.toString()}`)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** One flow through the flow machinery (splice relay on) in `mode`; returns what the client saw and the access-log line. */
async function oneFlow(
  mode: Mode,
  outbound: Outbound,
  opts: { connectTimeoutMs?: number; send?: string; loop?: boolean; hook?: boolean; onAccepted?: (h: FlowHarness) => void; level?: string } = {},
) {
  const { logger, lines } = captureLogger();
  if (opts.level) logger.level = opts.level;
  let handler!: FlowHarness;
  const listener = await listen(() => handler, mode);
  handler = createFlowHarness({
    outbounds: [outbound],
    // With the hook on, the rules name an outbound that does not exist: only the hook can route the flow.
    route: opts.hook ? 'unused' : outbound.tag,
    hook: opts.hook ? async () => outbound.tag : undefined,
    listeners: opts.loop ? [{ address: '127.0.0.1', port: listener.port }] : [],
    logger,
    connectTimeoutMs: opts.connectTimeoutMs ?? 2000,
    splice: native(),
  });
  assert.equal(handler.sink.acceptsFds, true);
  const client = net.connect({ port: listener.port, host: '127.0.0.1', allowHalfOpen: true });
  const got: Buffer[] = [];
  let error: string | undefined;
  client.on('data', (d: Buffer) => got.push(d));
  client.on('error', (e: NodeJS.ErrnoException) => (error = e.code));
  if (opts.send !== undefined) client.end(opts.send);
  if (opts.onAccepted) {
    await waitUntil(() => handler.active.tcp > 0, 'an accepted flow');
    opts.onAccepted(handler);
  }
  await new Promise((r) => client.once('close', r));
  listener.close();
  if (!opts.level || opts.level === 'debug' || opts.level === 'info') await waitUntil(() => lines.some((l) => l.msg === 'flow closed'), 'access log');
  await waitUntil(() => handler.active.tcp === 0, 'no live flows');
  await new Promise((r) => setImmediate(r));
  const line = lines.find((l) => l.msg === 'flow closed')!;
  return { received: Buffer.concat(got).toString(), error, line, listenPort: listener.port, lines };
}

/** The access-log fields that must not depend on how the connection was accepted. */
function comparable(line: Record<string, unknown>, listenPort: number): Record<string, unknown> {
  const { time: _t, flowId: _id, durationMs, src, dst, ...rest } = line;
  assert.equal(typeof durationMs, 'number');
  assert.match(String(src), /^127\.0\.0\.1:\d+$/);
  assert.equal(dst, `127.0.0.1:${listenPort}`);
  return rest;
}

describe('TCP flows: native fast path (FastAcceptor + dialTcpFd + splice)', function () {
  before(() => {
    // splice() is a requirement on the kernels this project supports: its absence fails here rather than skipping.
    assert.ok(spliceAvailable(native()), 'splice() is not available in this kernel or sandbox');
  });

  it('relays through direct without a net.Socket and writes the same access-log line as the stream path', async () => {
    const echo = await echoServer();
    try {
      const fast = new Redirect('direct', () => echo.port);
      const f = await oneFlow('fd', fast, { send: 'hi' });
      assert.equal(f.received, 'echo:hi');
      assert.equal(f.error, undefined);
      assert.deepEqual([fast.fds, fast.streams], [1, 0], 'dialTcpFd, not dialTcp');
      assert.equal(f.line.up, 2);
      assert.equal(f.line.down, 7);
      assert.equal(f.line.error, undefined);

      const slow = new Redirect('direct', () => echo.port);
      const s = await oneFlow('stream', slow, { send: 'hi' });
      assert.equal(s.received, 'echo:hi');
      assert.equal(slow.fds, 1, 'a paused accepted socket also takes the fd dial');
      assert.deepEqual(comparable(f.line, f.listenPort), comparable(s.line, s.listenPort));
    } finally {
      echo.close();
    }
  });

  it('a refused connect resets the client and logs the same error text as before', async () => {
    const port = await closedPort();
    const f = await oneFlow('fd', new Redirect('direct', () => port));
    assert.equal(f.error, 'ECONNRESET');
    assert.equal(f.line.error, `direct: connect to 127.0.0.1:${port} failed (ECONNREFUSED)`);
    assert.equal(f.line.up, 0);
    assert.equal(f.line.down, 0);
    const s = await oneFlow('stream', new Redirect('direct', () => port));
    assert.deepEqual(comparable(f.line, f.listenPort), comparable(s.line, s.listenPort));
  });

  it('a dial past the connect timeout is aborted and the client reset', async () => {
    let aborted = false;
    let reason: unknown;
    const hang: Outbound & TcpFdDialer = {
      type: 'hang',
      tag: 'hang',
      networks: ['tcp'],
      dialTcp: () => Promise.reject(new Error('stream dial not expected')),
      dialTcpFd: (_dst, ctx) =>
        new Promise<number>((_r, reject) => ctx.signal.addEventListener('abort', () => ((aborted = true), (reason = ctx.signal.reason), reject(ctx.signal.reason)))),
      close: async () => {},
    };
    const f = await oneFlow('fd', hang, { connectTimeoutMs: 100 });
    assert.equal(aborted, true);
    // The dial ended because the timeout fired (not early for another reason).
    assert.equal((reason as { code?: string }).code, ErrorCode.DIAL_TIMEOUT);
    assert.equal(f.error, 'ECONNRESET');
    assert.equal(f.line.error, 'connect timeout after 100 ms');
  });

  const hangingOutbound = (onAbort: () => void): Outbound & TcpFdDialer => ({
    type: 'hang',
    tag: 'hang',
    networks: ['tcp'],
    dialTcp: () => Promise.reject(new Error('stream dial not expected')),
    dialTcpFd: (_dst, ctx) => new Promise<number>((_r, reject) => ctx.signal.addEventListener('abort', () => (onAbort(), reject(ctx.signal.reason)))),
    close: async () => {},
  });

  it('abortAll() during a native dial aborts the dial, resets the client and logs the reason', async () => {
    let aborted = false;
    const f = await oneFlow('fd', hangingOutbound(() => (aborted = true)), { connectTimeoutMs: 60_000, onAccepted: (h) => h.abortAll('shutting down') });
    assert.equal(aborted, true);
    assert.equal(f.error, 'ECONNRESET');
    assert.equal(f.line.error, 'shutting down');
  });

  it('a routing hook (asynchronous dispatch) routes a bare-fd flow the same way', async () => {
    const echo = await echoServer();
    try {
      const out = new Redirect('direct', () => echo.port);
      const f = await oneFlow('fd', out, { send: 'hook', hook: true });
      assert.equal(f.received, 'echo:hook');
      assert.deepEqual([out.fds, out.streams], [1, 0]);
      assert.equal(f.line.rule, 'hook');
      assert.equal(f.line.up, 4);
    } finally {
      echo.close();
    }
  });

  it('at level warn a clean flow writes no line but is still published on the diagnostics channel; a failed one is logged', async () => {
    const echo = await echoServer();
    const published: unknown[] = [];
    const onClosed = (m: unknown): void => void published.push(m);
    flowClosedChannel.subscribe(onClosed);
    try {
      const clean = await oneFlow('fd', new Redirect('direct', () => echo.port), { send: 'x', level: 'warn' });
      assert.equal(clean.received, 'echo:x');
      assert.equal(clean.line, undefined);
      assert.equal(published.length, 1);
      const port = await closedPort();
      const failed = await oneFlow('fd', new Redirect('direct', () => port), { level: 'warn' });
      assert.equal(failed.line.level, 40); // pino's number for warn
      assert.match(String(failed.line.error), /ECONNREFUSED/);
      assert.equal(published.length, 2);
    } finally {
      flowClosedChannel.unsubscribe(onClosed);
      echo.close();
    }
  });

  it('a bare-fd client with a stream upstream that is not a socket goes through the stream relay', async () => {
    let dials = 0;
    const loopback: Outbound = {
      type: 'loopback',
      tag: 'loopback',
      networks: ['tcp'],
      // What the client sends comes back: an upstream the kernel cannot splice (like a TLS tunnel or a plugin's stream).
      dialTcp: async () => (dials++, new PassThrough()),
      close: async () => {},
    };
    const f = await oneFlow('fd', loopback, { send: 'round' });
    assert.equal(dials, 1);
    assert.equal(f.received, 'round');
    assert.equal(f.line.up, 5);
    assert.equal(f.line.down, 5);
    assert.equal(f.line.error, undefined);
  });

  it('an outbound that plans its connect is connected and relayed in one native step, with the same access-log line', async () => {
    const echo = await echoServer();
    try {
      const planned = new PlannedRedirect('direct', () => echo.port);
      const p = await oneFlow('fd', planned, { send: 'hi' });
      assert.equal(p.received, 'echo:hi');
      assert.deepEqual([planned.plans, planned.fds, planned.streams], [1, 0, 0], 'planTcpConnect, no dial');
      const dialled = new Redirect('direct', () => echo.port);
      const d = await oneFlow('fd', dialled, { send: 'hi' });
      assert.deepEqual(comparable(p.line, p.listenPort), comparable(d.line, d.listenPort));
    } finally {
      echo.close();
    }
  });

  it('a refused planned connect resets the client and logs what the dial would have', async () => {
    const port = await closedPort();
    const planned = new PlannedRedirect('direct', () => port);
    const f = await oneFlow('fd', planned);
    assert.deepEqual([planned.plans, planned.fds], [1, 0]);
    assert.equal(f.error, 'ECONNRESET');
    assert.equal(f.line.error, `direct: connect to 127.0.0.1:${port} failed (ECONNREFUSED)`);
    assert.equal(f.line.up, 0);
    assert.equal(f.line.down, 0);
  });

  it('abortAll() while a planned connect is in flight resets the client and logs the reason', async () => {
    await withStuckListener(async (port) => {
      const planned = new PlannedRedirect('direct', () => port);
      const f = await oneFlow('fd', planned, { connectTimeoutMs: 60_000, onAccepted: (h) => setTimeout(() => h.abortAll('shutting down'), 100) });
      assert.equal(planned.plans, 1);
      assert.equal(f.error, 'ECONNRESET');
      assert.equal(f.line.error, 'shutting down');
    });
  });

  it("a planned connect is bounded by the outbound's own connect_timeout_ms, or by core's when that is shorter", async () => {
    await withStuckListener(async (port) => {
      const own = new PlannedRedirect('direct', () => port, true, { transparent: false, connect_timeout_ms: 150 });
      const a = await oneFlow('fd', own, { connectTimeoutMs: 60_000 });
      assert.deepEqual([own.plans, own.fds], [1, 0], 'planned, not dialled');
      assert.equal(a.error, 'ECONNRESET');
      // The message the dialTcpFd path gives for the outbound's own timeout (see plugin-direct.root.test.ts).
      assert.equal(a.line.error, `direct: connect to 127.0.0.1:${port} timed out after 150 ms`);
      const core = new PlannedRedirect('direct', () => port, true, { transparent: false, connect_timeout_ms: 60_000 });
      const b = await oneFlow('fd', core, { connectTimeoutMs: 150 });
      assert.deepEqual([core.plans, core.fds], [1, 0], 'planned, not dialled');
      assert.equal(b.line.error, 'connect timeout after 150 ms');
    });
  });

  it('an outbound that cannot plan this connect is dialled as before', async () => {
    const echo = await echoServer();
    try {
      const unplanned = new PlannedRedirect('direct', () => echo.port, false);
      const f = await oneFlow('fd', unplanned, { send: 'hi' });
      assert.equal(f.received, 'echo:hi');
      assert.deepEqual([unplanned.plans, unplanned.fds, unplanned.streams], [1, 1, 0]);
    } finally {
      echo.close();
    }
  });

  it('block (no dialTcpFd) adopts the fd as a socket and resets at once', async () => {
    const f = await oneFlow('fd', new BlockOutbound('deny'));
    assert.equal(f.error, 'ECONNRESET');
    assert.equal(f.line.outbound, 'deny');
    assert.equal(f.line.error, 'blocked');
  });

  it('refuses a flow to its own listener (loop) with a reset', async () => {
    const out = new Redirect('direct', () => 1);
    const f = await oneFlow('fd', out, { loop: true });
    assert.equal(f.error, 'ECONNRESET');
    assert.equal(f.line.rule, 'loop');
    assert.equal(f.line.error, 'loop: destination is a sluice listener');
    assert.equal(out.fds + out.streams, 0);
    assert.ok(f.lines.some((l) => l.msg === 'refused a flow to sluice itself (loop)'));
  });
});
