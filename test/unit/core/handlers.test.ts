import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import type { Endpoint, FlowContext, FlowRouter, UdpSessionEnd, UdpSessionRelay } from '@sluice/core';
import { BlockOutbound, ErrorCode, flowClosedChannel, isSluiceError } from '@sluice/core';
import { createFlowHarness, type FlowHarness, type FlowHarnessOptions } from '@sluice/core/testing';
import { FakeDatagramPort, FakeOutbound, captureLogger, socketPair, waitUntil } from './fakes';

/** The accepted socket's peer and local address, as the tproxy inbound hands them over. */
function endpoints(s: net.Socket): { src: Endpoint; dst: Endpoint } {
  return { src: { address: s.remoteAddress ?? '', port: s.remotePort ?? 0 }, dst: { address: s.localAddress ?? '', port: s.localPort ?? 0 } };
}

/** A paused loopback listener whose connections go to `h().sink`, as the tproxy inbound's stream path does. */
async function listenInto(h: () => FlowHarness): Promise<{ port: number; server: net.Server }> {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => {
    const { src, dst } = endpoints(s);
    h().sink.accept(s, src, dst, 'in4');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, server };
}

/** Accepts one connection on loopback and hands it to the harness. */
async function acceptInto(h: FlowHarness): Promise<{ client: net.Socket; port: number; server: net.Server }> {
  const { port, server } = await listenInto(() => h);
  const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  return { client, port, server };
}

const closedLine = (lines: Record<string, unknown>[]) => lines.find((l) => l.msg === 'flow closed');

describe('TCP flows (accept → route → dial → relay → finish)', () => {
  it('relays through the routed outbound and writes one access-log line', async () => {
    const { logger, lines } = captureLogger();
    const out = new FakeOutbound('direct');
    const upstream = await socketPair();
    out.onDialTcp = async () => upstream.a;
    upstream.b.on('data', (d: Buffer) => upstream.b.end(`echo:${d.toString()}`));
    const h = createFlowHarness({ outbounds: [out], logger, connectTimeoutMs: 1000 });
    const published: unknown[] = [];
    const onClosed = (m: unknown): void => void published.push(m);
    flowClosedChannel.subscribe(onClosed);
    try {
      const { client, port, server } = await acceptInto(h);
      const got: Buffer[] = [];
      client.on('data', (d: Buffer) => got.push(d));
      client.end('hi');
      await new Promise((r) => client.once('close', r));
      server.close();
      assert.equal(Buffer.concat(got).toString(), 'echo:hi');
      await waitUntil(() => closedLine(lines) !== undefined, 'access log');
      const line = closedLine(lines)!;
      assert.equal(line.network, 'tcp');
      assert.equal(line.dst, `127.0.0.1:${port}`);
      assert.equal(line.inbound, 'in4');
      assert.equal(line.rule, 'final');
      assert.equal(line.outbound, 'direct');
      assert.equal(line.up, 2);
      assert.equal(line.down, 7);
      assert.equal(typeof line.durationMs, 'number');
      assert.equal(line.error, undefined);
      assert.deepEqual(out.tcpDials, [{ address: '127.0.0.1', port }]);
      assert.equal(h.active.tcp, 0);
    } finally {
      flowClosedChannel.unsubscribe(onClosed);
    }
    assert.equal(published.length, 1, 'one diagnostics_channel message per flow');
  });

  it('resets the client at once for a block outbound', async () => {
    const { logger, lines } = captureLogger();
    const h = createFlowHarness({ outbounds: [new BlockOutbound('deny')], logger, connectTimeoutMs: 1000 });
    const { client, server } = await acceptInto(h);
    const err = await new Promise<NodeJS.ErrnoException>((r) => client.once('error', r));
    server.close();
    assert.equal(err.code, 'ECONNRESET');
    await waitUntil(() => closedLine(lines) !== undefined, 'access log');
    const line = closedLine(lines)!;
    assert.equal(line.outbound, 'deny');
    assert.equal(line.error, 'blocked');
  });

  it('gives up after the connect timeout and aborts the dial', async () => {
    const { logger, lines } = captureLogger();
    const out = new FakeOutbound('slow');
    const seen: string[] = [];
    let abortReason: unknown;
    out.onDialTcp = (_dst, ctx) =>
      new Promise((_resolve, reject) =>
        ctx.signal.addEventListener('abort', () => {
          seen.push('dial aborted');
          abortReason = ctx.signal.reason;
          reject(ctx.signal.reason);
        }),
      );
    const h = createFlowHarness({ outbounds: [out], logger, connectTimeoutMs: 100 });
    const { client, server } = await acceptInto(h);
    await new Promise((r) => client.once('error', r));
    seen.push('client reset');
    server.close();
    // The timeout, not something else, ended the flow: the dial was aborted with it before the client was reset.
    assert.deepEqual(seen, ['dial aborted', 'client reset']);
    assert.ok(isSluiceError(abortReason) && abortReason.code === ErrorCode.DIAL_TIMEOUT, 'the outbound saw the timeout as the abort reason');
    await waitUntil(() => closedLine(lines) !== undefined, 'access log');
    assert.match(String(closedLine(lines)!.error), /connect timeout after 100 ms/);
  });

  it('refuses a flow whose destination is its own listener', async () => {
    const { logger, lines } = captureLogger();
    const out = new FakeOutbound('direct');
    let h!: FlowHarness;
    const { port, server } = await listenInto(() => h);
    h = createFlowHarness({ outbounds: [out], logger, connectTimeoutMs: 1000, listeners: [{ address: '127.0.0.1', port }] });
    const client = net.connect({ port, host: '127.0.0.1' });
    await new Promise((r) => client.once('error', r));
    server.close();
    assert.equal(out.tcpDials.length, 0);
    await waitUntil(() => closedLine(lines) !== undefined, 'access log');
    assert.equal(closedLine(lines)!.rule, 'loop');
    assert.ok(lines.some((l) => l.msg === 'refused a flow to sluice itself (loop)'));
  });
});

describe('Loop guard', () => {
  it('matches listener endpoints, and local addresses for wildcard listeners', async () => {
    const { logger, lines } = captureLogger();
    const h = createFlowHarness({
      outbounds: [new FakeOutbound('direct')],
      logger,
      listeners: [
        { address: '127.0.0.1', port: 15001 },
        { address: '::', port: 15002 },
      ],
    });
    let srcPort = 40000;
    /** True when the datagram was dropped as a loop (no session opened) rather than routed. */
    const isLoop = async (dst: Endpoint): Promise<boolean> => {
      const routed = h.routed.length;
      const sessions = h.active.udp;
      h.sink.onDatagram(Buffer.from('x'), { address: '198.18.1.2', port: srcPort++ }, dst, new FakeDatagramPort('in'));
      // The `flow` event goes out a microtask after the route (once a group has chosen its member).
      await Promise.resolve();
      const dropped = h.active.udp === sessions;
      assert.notEqual(dropped, h.routed.length > routed, 'either dropped or routed');
      return dropped;
    };
    assert.equal(await isLoop({ address: '127.0.0.1', port: 15001 }), true);
    assert.equal(await isLoop({ address: '198.19.2.2', port: 15001 }), false);
    assert.equal(await isLoop({ address: '::1', port: 15002 }), true);
    assert.equal(await isLoop({ address: '198.19.2.2', port: 15002 }), false);
    assert.equal(await isLoop({ address: '127.0.0.1', port: 80 }), false);
    // Two loops, one warning: repeated warnings are rate-limited.
    assert.equal(lines.filter((l) => l.msg === 'dropped a datagram to sluice itself (loop)').length, 1);
    h.closeAll();
  });
});

describe('UDP sessions', () => {
  const src = { address: '198.18.1.2', port: 5353 };
  const dst = { address: '198.19.2.2', port: 53 };

  function setup(opts: Partial<{ idleMs: number; maxSessions: number }> = {}) {
    const { logger, lines } = captureLogger();
    const out = new FakeOutbound('direct');
    const port = new FakeDatagramPort('in4');
    const h = createFlowHarness({ outbounds: [out], logger, udpIdleMs: opts.idleMs ?? 60000, maxSessions: opts.maxSessions ?? 100, connectTimeoutMs: 1000 });
    return { h, out, port, lines };
  }

  it('opens one session per client endpoint and destination, queues while dialling, answers from the original destination', async () => {
    const { h, out, port, lines } = setup();
    h.sink.onDatagram(Buffer.from('q1'), src, dst, port);
    h.sink.onDatagram(Buffer.from('q2'), src, dst, port);
    h.sink.onDatagram(Buffer.from('other'), { ...src, port: 5354 }, dst, port);
    await waitUntil(() => out.channels.length === 2 && out.channels[0].sent.length === 2, 'sessions');
    assert.deepEqual(out.channels[0].sent.map((s) => s.data.toString()), ['q1', 'q2']);
    assert.deepEqual(out.channels[0].sent[0].dst, dst);
    out.channels[0].reply(Buffer.from('a1'), dst);
    assert.deepEqual(port.replies, [{ data: 'a1', from: '198.19.2.2:53', to: '198.18.1.2:5353' }]);
    assert.equal(h.active.udp, 2);
    h.closeAll();
    assert.ok(out.channels.every((c) => c.closed));
    const closed = lines.filter((l) => l.msg === 'flow closed');
    assert.equal(closed.length, 2);
    const first = closed.find((l) => l.src === '198.18.1.2:5353')!;
    assert.equal(first.up, 4);
    assert.equal(first.down, 2);
    assert.equal(first.network, 'udp');
    assert.equal(first.error, undefined);
  });

  it('closes idle sessions and their channels', async () => {
    const { h, out, port } = setup({ idleMs: 100 });
    h.sink.onDatagram(Buffer.from('q'), src, dst, port);
    await waitUntil(() => out.channels.length === 1, 'session');
    await waitUntil(() => out.channels[0].closed, 'idle expiry', 3000);
    assert.equal(h.active.udp, 0);
    h.closeAll();
  });

  it('records a dial failure in the access log and keeps serving others', async () => {
    const { h, out, port, lines } = setup();
    let first = true;
    const orig = out.onDialUdp;
    out.onDialUdp = (ctx) => {
      if (first) {
        first = false;
        return Promise.reject(new Error('upstream unreachable'));
      }
      return orig(ctx);
    };
    h.sink.onDatagram(Buffer.from('q'), src, dst, port);
    h.sink.onDatagram(Buffer.from('q'), { ...src, port: 9999 }, dst, port);
    await waitUntil(() => lines.some((l) => l.msg === 'flow closed' && l.error === 'upstream unreachable'), 'failure line');
    await waitUntil(() => out.channels.length === 1 && out.channels[0].sent.length === 1, 'other session');
    h.closeAll();
  });
});

describe('UDP sessions with the inbound\'s session relay', () => {
  const src = { address: '198.18.1.2', port: 5353 };
  const dst = { address: '198.19.2.2', port: 53 };

  /** Records what the sessions hand over; the test plays the inbound's native side. */
  class FakeRelay implements UdpSessionRelay {
    attached = new Map<number, { src: Endpoint; dst: Endpoint; fd: number; queued: string[] }>();
    discarded: number[] = [];
    pushOut: UdpSessionEnd[] = [];
    failAttach?: Error;
    attach(id: number, s: Endpoint, d: Endpoint, fd: number, queued: readonly Buffer[]): readonly UdpSessionEnd[] {
      if (this.failAttach) throw this.failAttach;
      this.attached.set(id, { src: s, dst: d, fd, queued: queued.map((b) => b.toString()) });
      return this.pushOut.splice(0);
    }
    detach(id: number): UdpSessionEnd | undefined {
      if (!this.attached.delete(id)) return undefined;
      return { id, up: 10, down: 20, reason: 'closed' };
    }
    discard(fd: number): void {
      this.discarded.push(fd);
    }
  }

  function setup(sessionRelay = true) {
    const { logger, lines } = captureLogger();
    const out = new FakeOutbound('direct');
    let nextFd = 100;
    let dialFd: (ctx: FlowContext) => Promise<number> = async () => nextFd++;
    Object.assign(out, { dialUdpFd: (ctx: FlowContext) => dialFd(ctx) });
    const relay = new FakeRelay();
    const port = new FakeDatagramPort('in4', relay);
    const h = createFlowHarness({ outbounds: [out], logger, udpIdleMs: 60000, maxSessions: 100, connectTimeoutMs: 1000, sessionRelay });
    return { h, out, relay, port, lines, setDial: (fn: typeof dialFd) => (dialFd = fn) };
  }
  const flowLines = (lines: Record<string, unknown>[]) => lines.filter((l) => l.msg === 'flow closed');

  it('hands a session with dialUdpFd to the relay, queued datagrams included, and logs the relay\'s counts', async () => {
    const { h, out, relay, port, lines } = setup();
    assert.deepEqual(h.sink.sessionRelayLimits, { idleMs: 60000, maxSessions: 100 }, 'the inbound is asked to offer a relay with these limits');
    h.sink.onDatagram(Buffer.from('q1'), src, dst, port);
    h.sink.onDatagram(Buffer.from('q2'), src, dst, port);
    await waitUntil(() => relay.attached.size === 1, 'attached');
    const [[id, session]] = [...relay.attached];
    assert.deepEqual(session, { src, dst, fd: 100, queued: ['q1', 'q2'] });
    assert.equal(out.channels.length, 0, 'no PacketChannel for a natively relayed session');
    assert.equal(h.active.udp, 1);
    // The relay ends it (idle): the line adds what the relay carried to what JavaScript saw.
    h.sink.onSessionsEnded([{ id, up: 100, down: 250, reason: 'idle timeout' }]);
    assert.equal(h.active.udp, 0);
    const [line] = flowLines(lines);
    assert.equal(line.up, 104);
    assert.equal(line.down, 250);
    assert.equal(line.error, undefined);
    assert.equal(line.outbound, 'direct');
  });

  it('detaches on closeAll and on the session cap, with an error for pushed-out sessions', async () => {
    const { h, relay, port, lines } = setup();
    h.sink.onDatagram(Buffer.from('a'), src, dst, port);
    await waitUntil(() => relay.attached.size === 1, 'first attached');
    const [firstId] = relay.attached.keys();
    relay.pushOut = [{ id: firstId, up: 1, down: 2, reason: 'session limit' }];
    relay.attached.delete(firstId);
    h.sink.onDatagram(Buffer.from('b'), { ...src, port: 6000 }, dst, port);
    await waitUntil(() => flowLines(lines).length === 1, 'pushed-out session logged');
    assert.equal(flowLines(lines)[0].error, 'session limit');
    h.closeAll();
    assert.equal(relay.attached.size, 0);
    const last = flowLines(lines)[1];
    assert.equal(last.src, '198.18.1.2:6000');
    assert.equal(last.up, 11);
    assert.equal(last.down, 20);
    assert.equal(last.error, undefined, 'shutdown is a clean end');
    assert.equal(h.active.udp, 0);
  });

  it('closes the session with the error when the relay refuses it, and discards an fd dialled for a closed session', async () => {
    const { h, relay, port, lines, setDial } = setup();
    relay.failAttach = Object.assign(new Error('attachSession: cannot bind the reply socket (EADDRINUSE)'), { code: 'EADDRINUSE' });
    h.sink.onDatagram(Buffer.from('a'), src, dst, port);
    await waitUntil(() => flowLines(lines).length === 1, 'refused session logged');
    assert.match(String(flowLines(lines)[0].error), /EADDRINUSE/);
    relay.failAttach = undefined;
    let finish!: (fd: number) => void;
    setDial(() => new Promise<number>((r) => (finish = r)));
    h.sink.onDatagram(Buffer.from('b'), { ...src, port: 7000 }, dst, port);
    await waitUntil(() => finish !== undefined, 'dial started');
    h.closeAll();
    finish(42);
    await waitUntil(() => relay.discarded.length === 1, 'fd discarded');
    assert.deepEqual(relay.discarded, [42]);
    assert.equal(relay.attached.size, 0);
  });

  it('keeps the JavaScript path with sessionRelay: false', async () => {
    const { h, out, relay, port } = setup(false);
    h.sink.onDatagram(Buffer.from('q'), src, dst, port);
    await waitUntil(() => out.channels.length === 1 && out.channels[0].sent.length === 1, 'channel');
    assert.equal(relay.attached.size, 0);
    assert.equal(h.sink.sessionRelayLimits, undefined);
    h.closeAll();
  });
});

describe('Routing: hook, rules, network', () => {
  const src = { address: '1.1.1.1', port: 1 };
  const dgram = (h: FlowHarness, dstPort: number, srcPort = 1): void =>
    h.sink.onDatagram(Buffer.from('x'), { ...src, port: srcPort }, { address: '2.2.2.2', port: dstPort }, new FakeDatagramPort('in'));

  /** `t` carries TCP only; the rules send everything to `t`. */
  function setup(hook: FlowHarnessOptions['hook'], hookTimeoutMs?: number) {
    const { logger, lines } = captureLogger();
    const tcpOnly = new FakeOutbound('t');
    tcpOnly.networks = ['tcp'];
    const u = new FakeOutbound('u');
    const router: FlowRouter = { route: (f) => ({ rule: 'rules[0]', outbound: f.dst.port === 4 ? 'u' : 't' }) };
    const h = createFlowHarness({ outbounds: [tcpOnly, u], route: router, hook, hookTimeoutMs, logger });
    return { h, lines, warnings: (msg: string) => lines.filter((l) => l.msg === msg && l.level === 40) };
  }

  it('asks the hook first, then the rules, and checks the network', async () => {
    const { h } = setup((f) => (f.dst.port === 2 ? 'u' : undefined));
    dgram(h, 2);
    await waitUntil(() => h.routed.length === 1, 'routed by the hook');
    assert.equal(h.routed[0].rule, 'hook');
    assert.equal(h.routed[0].outbound, 'u');
    dgram(h, 3);
    await waitUntil(() => h.closed.length === 1, 'refused by the network check');
    assert.match(String(h.closed[0].error), /does not carry udp/);
    assert.equal(h.routed.length, 1, 'a flow the outbound cannot carry is not reported as routed');
    dgram(h, 4);
    await waitUntil(() => h.routed.length === 2, 'routed by the rules');
    assert.deepEqual([h.routed[1].rule, h.routed[1].outbound], ['rules[0]', 'u']);
    h.closeAll();
  });

  it('lets the rules decide when the hook throws or rejects, and logs it', async () => {
    let calls = 0;
    const { h, warnings } = setup((f) => {
      calls++;
      if (f.src.port === 1) throw new Error('hook bug');
      return Promise.reject(new Error('hook bug, async'));
    });
    dgram(h, 4, 1);
    dgram(h, 4, 2);
    await waitUntil(() => h.routed.length === 2, 'both routed');
    assert.equal(calls, 2);
    assert.deepEqual(
      h.routed.map((e) => [e.rule, e.outbound]),
      [
        ['rules[0]', 'u'],
        ['rules[0]', 'u'],
      ],
    );
    const logged = warnings('routing hook threw; the rules decide');
    assert.equal(logged.length, 1, 'rate-limited: one line for both');
    assert.match(String((logged[0].err as { message?: string }).message), /hook bug/);
    h.closeAll();
  });

  it('lets the rules decide when the hook is slower than hookTimeoutMs, with one warning line', async () => {
    const { h, warnings } = setup(() => new Promise<string | undefined>(() => {}), 50);
    dgram(h, 4, 1);
    dgram(h, 4, 2);
    await waitUntil(() => h.routed.length === 2, 'both routed after the timeout');
    assert.deepEqual(
      h.routed.map((e) => [e.rule, e.outbound]),
      [
        ['rules[0]', 'u'],
        ['rules[0]', 'u'],
      ],
    );
    const logged = warnings('routing hook timed out; the rules decide');
    assert.equal(logged.length, 1, 'rate-limited: one line for both');
    assert.equal(logged[0].timeoutMs, 50);
    h.closeAll();
  });
});
