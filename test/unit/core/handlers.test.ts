import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import type { Endpoint, FlowContext, FlowMetadata } from '@sluice/core';
import { BlockOutbound, flowClosedChannel } from '@sluice/core';
import { Dispatcher } from '@sluice/core/dist/flow/dispatch';
import { LoopGuard } from '@sluice/core/dist/flow/loop-guard';
import { TcpFlowHandler } from '@sluice/core/dist/flow/tcp-flows';
import { UdpFlowHandler, type NativeSessionEnd, type NativeUdpRelay } from '@sluice/core/dist/flow/udp-sessions';
import { FakeOutbound, captureLogger, socketPair, waitUntil } from './fakes';

/** A router that sends everything to `tag`. */
const to = (tag: string) => ({ route: () => ({ rule: 'final', outbound: tag }) });

/** Accepts one connection on loopback and hands it to the handler, as the TPROXY inbound would. */
async function acceptInto(handler: TcpFlowHandler): Promise<{ client: net.Socket; port: number; server: net.Server }> {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => handler.handle(s, 'in4'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  return { client, port, server };
}

describe('TcpFlowHandler', () => {
  it('relays through the routed outbound and writes one access-log line', async () => {
    const { logger, lines } = captureLogger();
    const out = new FakeOutbound('direct');
    const upstream = await socketPair();
    out.onDialTcp = async () => upstream.a;
    upstream.b.on('data', (d: Buffer) => upstream.b.end(`echo:${d.toString()}`));
    const handler = new TcpFlowHandler(new Dispatcher(to('direct'), new Map([['direct', out]])), new LoopGuard([]), logger, { connectTimeoutMs: 1000, idleMs: 0 });
    const published: unknown[] = [];
    const onClosed = (m: unknown): void => void published.push(m);
    flowClosedChannel.subscribe(onClosed);
    const { client, port, server } = await acceptInto(handler);
    const got: Buffer[] = [];
    client.on('data', (d: Buffer) => got.push(d));
    client.end('hi');
    await new Promise((r) => client.once('close', r));
    server.close();
    assert.equal(Buffer.concat(got).toString(), 'echo:hi');
    await waitUntil(() => lines.some((l) => l.msg === 'flow closed'), 'access log');
    const line = lines.find((l) => l.msg === 'flow closed')!;
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
    flowClosedChannel.unsubscribe(onClosed);
    assert.equal(published.length, 1, 'one diagnostics_channel message per flow');
  });

  it('resets the client at once for a block outbound', async () => {
    const { logger, lines } = captureLogger();
    const handler = new TcpFlowHandler(new Dispatcher(to('deny'), new Map([['deny', new BlockOutbound('deny')]])), new LoopGuard([]), logger, { connectTimeoutMs: 1000, idleMs: 0 });
    const { client, server } = await acceptInto(handler);
    const err = await new Promise<NodeJS.ErrnoException>((r) => client.once('error', r));
    server.close();
    assert.equal(err.code, 'ECONNRESET');
    await waitUntil(() => lines.some((l) => l.msg === 'flow closed'), 'access log');
    const line = lines.find((l) => l.msg === 'flow closed')!;
    assert.equal(line.outbound, 'deny');
    assert.equal(line.error, 'blocked');
  });

  it('gives up after the connect timeout and aborts the dial', async () => {
    const { logger, lines } = captureLogger();
    const out = new FakeOutbound('slow');
    let aborted = false;
    out.onDialTcp = (_dst, ctx) =>
      new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => ((aborted = true), reject(ctx.signal.reason))));
    const handler = new TcpFlowHandler(new Dispatcher(to('slow'), new Map([['slow', out]])), new LoopGuard([]), logger, { connectTimeoutMs: 100, idleMs: 0 });
    const { client, server } = await acceptInto(handler);
    const started = Date.now();
    await new Promise((r) => client.once('error', r));
    server.close();
    assert.ok(Date.now() - started < 1000);
    assert.ok(aborted, 'the outbound saw the abort');
    await waitUntil(() => lines.some((l) => l.msg === 'flow closed'), 'access log');
    assert.match(String(lines.find((l) => l.msg === 'flow closed')!.error), /connect timeout after 100 ms/);
  });

  it('refuses a flow whose destination is its own listener', async () => {
    const { logger, lines } = captureLogger();
    const out = new FakeOutbound('direct');
    const guardPort = { port: 0 };
    const handler = new TcpFlowHandler(
      new Dispatcher(to('direct'), new Map([['direct', out]])),
      { isLoop: (dst) => dst.port === guardPort.port } as LoopGuard,
      logger,
      { connectTimeoutMs: 1000, idleMs: 0 },
    );
    const server = net.createServer({ allowHalfOpen: true }, (s) => handler.handle(s, 'in4'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    guardPort.port = (server.address() as net.AddressInfo).port;
    const client = net.connect({ port: guardPort.port, host: '127.0.0.1' });
    await new Promise((r) => client.once('error', r));
    server.close();
    assert.equal(out.tcpDials.length, 0);
    await waitUntil(() => lines.some((l) => l.msg === 'flow closed'), 'access log');
    assert.ok(lines.some((l) => l.msg === 'refused a flow to sluice itself (loop)'));
  });
});

describe('LoopGuard', () => {
  it('matches listener endpoints, and local addresses for wildcard listeners', () => {
    const g = new LoopGuard([
      { address: '127.0.0.1', port: 15001 },
      { address: '::', port: 15002 },
    ]);
    assert.equal(g.isLoop({ address: '127.0.0.1', port: 15001 }), true);
    assert.equal(g.isLoop({ address: '198.19.2.2', port: 15001 }), false);
    assert.equal(g.isLoop({ address: '::1', port: 15002 }), true);
    assert.equal(g.isLoop({ address: '198.19.2.2', port: 15002 }), false);
    assert.equal(g.isLoop({ address: '127.0.0.1', port: 80 }), false);
  });
});

describe('UdpFlowHandler', () => {
  const src = { address: '198.18.1.2', port: 5353 };
  const dst = { address: '198.19.2.2', port: 53 };

  function setup(opts: Partial<{ idleMs: number; maxSessions: number }> = {}) {
    const { logger, lines } = captureLogger();
    const out = new FakeOutbound('direct');
    const replies: { data: string; from: string; to: string }[] = [];
    const sink = {
      send(data: Buffer, fa: string, fp: number, ta: string, tp: number) {
        replies.push({ data: data.toString(), from: `${fa}:${fp}`, to: `${ta}:${tp}` });
        return true;
      },
    };
    const handler = new UdpFlowHandler(new Dispatcher(to('direct'), new Map([['direct', out]])), new LoopGuard([]), logger, {
      idleMs: opts.idleMs ?? 60000,
      maxSessions: opts.maxSessions ?? 100,
      connectTimeoutMs: 1000,
    });
    return { handler, out, sink, replies, lines };
  }

  it('opens one session per client endpoint and destination, queues while dialling, answers from the original destination', async () => {
    const { handler, out, sink, replies, lines } = setup();
    handler.onDatagram('in4', sink, Buffer.from('q1'), src, dst);
    handler.onDatagram('in4', sink, Buffer.from('q2'), src, dst);
    handler.onDatagram('in4', sink, Buffer.from('other'), { ...src, port: 5354 }, dst);
    await waitUntil(() => out.channels.length === 2 && out.channels[0].sent.length === 2, 'sessions');
    assert.deepEqual(out.channels[0].sent.map((s) => s.data.toString()), ['q1', 'q2']);
    assert.deepEqual(out.channels[0].sent[0].dst, dst);
    out.channels[0].reply(Buffer.from('a1'), dst);
    assert.deepEqual(replies, [{ data: 'a1', from: '198.19.2.2:53', to: '198.18.1.2:5353' }]);
    assert.equal(handler.size, 2);
    handler.closeAll();
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
    const { handler, out, sink } = setup({ idleMs: 100 });
    handler.onDatagram('in4', sink, Buffer.from('q'), src, dst);
    await waitUntil(() => out.channels.length === 1, 'session');
    await waitUntil(() => out.channels[0].closed, 'idle expiry', 3000);
    assert.equal(handler.size, 0);
    handler.closeAll();
  });

  it('records a dial failure in the access log and keeps serving others', async () => {
    const { handler, out, sink, lines } = setup();
    let first = true;
    const orig = out.onDialUdp;
    out.onDialUdp = (ctx) => {
      if (first) {
        first = false;
        return Promise.reject(new Error('upstream unreachable'));
      }
      return orig(ctx);
    };
    handler.onDatagram('in4', sink, Buffer.from('q'), src, dst);
    handler.onDatagram('in4', sink, Buffer.from('q'), { ...src, port: 9999 }, dst);
    await waitUntil(() => lines.some((l) => l.msg === 'flow closed' && l.error === 'upstream unreachable'), 'failure line');
    await waitUntil(() => out.channels.length === 1 && out.channels[0].sent.length === 1, 'other session');
    handler.closeAll();
  });
});

describe('UdpFlowHandler with a native session relay', () => {
  const src = { address: '198.18.1.2', port: 5353 };
  const dst = { address: '198.19.2.2', port: 53 };

  /** Records what the handler hands over; the test plays the native side. */
  class FakeRelay implements NativeUdpRelay {
    attached = new Map<number, { src: Endpoint; dst: Endpoint; fd: number; queued: string[] }>();
    discarded: number[] = [];
    pushOut: NativeSessionEnd[] = [];
    failAttach?: Error;
    attach(id: number, s: Endpoint, d: Endpoint, fd: number, queued: Buffer[]): readonly NativeSessionEnd[] {
      if (this.failAttach) throw this.failAttach;
      this.attached.set(id, { src: s, dst: d, fd, queued: queued.map((b) => b.toString()) });
      return this.pushOut.splice(0);
    }
    detach(id: number): NativeSessionEnd | undefined {
      if (!this.attached.delete(id)) return undefined;
      return { id, up: 10, down: 20, reason: 'closed' };
    }
    discard(fd: number): void {
      this.discarded.push(fd);
    }
  }

  function setup(nativeRelay = true) {
    const { logger, lines } = captureLogger();
    const out = new FakeOutbound('direct');
    let nextFd = 100;
    let dialFd: (ctx: FlowContext) => Promise<number> = async () => nextFd++;
    Object.assign(out, { dialUdpFd: (ctx: FlowContext) => dialFd(ctx) });
    const relay = new FakeRelay();
    const sink = { send: () => true, relay };
    const handler = new UdpFlowHandler(new Dispatcher(to('direct'), new Map([['direct', out]])), new LoopGuard([]), logger, {
      idleMs: 60000,
      maxSessions: 100,
      connectTimeoutMs: 1000,
      nativeRelay,
    });
    return { handler, out, relay, sink, lines, setDial: (fn: typeof dialFd) => (dialFd = fn) };
  }
  const flowLines = (lines: Record<string, unknown>[]) => lines.filter((l) => l.msg === 'flow closed');

  it('hands a session with dialUdpFd to the relay, queued datagrams included, and logs the relay\'s counts', async () => {
    const { handler, out, relay, sink, lines } = setup();
    handler.onDatagram('in4', sink, Buffer.from('q1'), src, dst);
    handler.onDatagram('in4', sink, Buffer.from('q2'), src, dst);
    await waitUntil(() => relay.attached.size === 1, 'attached');
    const [[id, session]] = [...relay.attached];
    assert.deepEqual(session, { src, dst, fd: 100, queued: ['q1', 'q2'] });
    assert.equal(out.channels.length, 0, 'no PacketChannel for a natively relayed session');
    assert.equal(handler.size, 1);
    // The relay ends it (idle): the line adds what the relay carried to what JavaScript saw.
    handler.onNativeSessionsClosed([{ id, up: 100, down: 250, reason: 'idle timeout' }]);
    assert.equal(handler.size, 0);
    const [line] = flowLines(lines);
    assert.equal(line.up, 104);
    assert.equal(line.down, 250);
    assert.equal(line.error, undefined);
    assert.equal(line.outbound, 'direct');
  });

  it('detaches on closeAll and on the session cap, with an error for pushed-out sessions', async () => {
    const { handler, relay, sink, lines } = setup();
    handler.onDatagram('in4', sink, Buffer.from('a'), src, dst);
    await waitUntil(() => relay.attached.size === 1, 'first attached');
    const [firstId] = relay.attached.keys();
    relay.pushOut = [{ id: firstId, up: 1, down: 2, reason: 'session limit' }];
    relay.attached.delete(firstId);
    handler.onDatagram('in4', sink, Buffer.from('b'), { ...src, port: 6000 }, dst);
    await waitUntil(() => flowLines(lines).length === 1, 'pushed-out session logged');
    assert.equal(flowLines(lines)[0].error, 'session limit');
    handler.closeAll();
    assert.equal(relay.attached.size, 0);
    const last = flowLines(lines)[1];
    assert.equal(last.src, '198.18.1.2:6000');
    assert.equal(last.up, 11);
    assert.equal(last.down, 20);
    assert.equal(last.error, undefined, 'shutdown is a clean end');
    assert.equal(handler.size, 0);
  });

  it('closes the session with the error when the relay refuses it, and discards an fd dialled for a closed session', async () => {
    const { handler, relay, sink, lines, setDial } = setup();
    relay.failAttach = Object.assign(new Error('attachSession: cannot bind the reply socket (EADDRINUSE)'), { code: 'EADDRINUSE' });
    handler.onDatagram('in4', sink, Buffer.from('a'), src, dst);
    await waitUntil(() => flowLines(lines).length === 1, 'refused session logged');
    assert.match(String(flowLines(lines)[0].error), /EADDRINUSE/);
    relay.failAttach = undefined;
    let finish!: (fd: number) => void;
    setDial(() => new Promise<number>((r) => (finish = r)));
    handler.onDatagram('in4', sink, Buffer.from('b'), { ...src, port: 7000 }, dst);
    await waitUntil(() => finish !== undefined, 'dial started');
    handler.closeAll();
    finish(42);
    await waitUntil(() => relay.discarded.length === 1, 'fd discarded');
    assert.deepEqual(relay.discarded, [42]);
    assert.equal(relay.attached.size, 0);
  });

  it('keeps the JavaScript path with nativeRelay: false', async () => {
    const { handler, out, relay, sink } = setup(false);
    handler.onDatagram('in4', sink, Buffer.from('q'), src, dst);
    await waitUntil(() => out.channels.length === 1 && out.channels[0].sent.length === 1, 'channel');
    assert.equal(relay.attached.size, 0);
    assert.equal(handler.nativeRelayOptions, undefined);
    handler.closeAll();
  });
});

describe('Dispatcher', () => {
  it('asks the hook first, then the rules, and checks the network', async () => {
    const tcpOnly = new FakeOutbound('t');
    tcpOnly.networks = ['tcp'];
    const outs = new Map([
      ['t', tcpOnly],
      ['u', new FakeOutbound('u')],
    ]);
    const flow: FlowMetadata = { id: '1', network: 'udp', inbound: 'in', src: { address: '1.1.1.1', port: 1 }, dst: { address: '2.2.2.2', port: 2 } };
    const d = new Dispatcher(to('t'), outs, (f) => (f.dst.port === 2 ? 'u' : undefined));
    const r = await d.dispatch(flow);
    assert.equal(r.rule, 'hook');
    assert.equal(r.target.tag, 'u');
    await assert.rejects(async () => d.dispatch({ ...flow, dst: { address: '2.2.2.2', port: 3 } }), /does not carry udp/);
  });
});
