import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { spliceAvailable, type Destination, type FlowContext, type Outbound, type TcpFdDialer } from '@sluice/core';
import { createFlowHarness, type FlowHarness } from '@sluice/core/testing';
import { DirectOutbound } from '@sluice/plugin-direct';
import { forEachAccepted, native, type NativeBinding, type TcpAcceptor } from '@sluice/native';
import { clientHello, inRecords } from '../../helpers/client-hello';
import { captureLogger, waitUntil } from './fakes';

/** Dials a fixed local port, recording the destination each dial was given. */
class Recorder implements Outbound, TcpFdDialer {
  readonly type = 'direct';
  readonly networks = ['tcp'] as const;
  readonly dialled: Destination[] = [];
  private readonly direct = new DirectOutbound('direct', { transparent: false }, native);
  constructor(
    readonly tag: string,
    private readonly port: () => number,
  ) {}
  dialTcp(dst: Destination, ctx: FlowContext): Promise<Duplex> {
    this.dialled.push(dst);
    return this.direct.dialTcp({ address: '127.0.0.1', port: this.port() }, ctx);
  }
  dialTcpFd(dst: Destination, ctx: FlowContext): Promise<number> {
    this.dialled.push(dst);
    return this.direct.dialTcpFd({ address: '127.0.0.1', port: this.port() }, ctx);
  }
  async close(): Promise<void> {}
}

/** The real binding, counting the splice relays started. */
function countingBinding(): { binding: NativeBinding; spliced: () => number } {
  const n = native();
  let count = 0;
  const SpliceRelay = function (this: unknown, ...args: ConstructorParameters<NativeBinding['SpliceRelay']>) {
    count++;
    return new n.SpliceRelay(...args);
  } as unknown as NativeBinding['SpliceRelay'];
  return { binding: Object.assign(Object.create(n) as NativeBinding, { SpliceRelay }), spliced: () => count };
}

/** A server that keeps what each connection sent and, at its end, answers with the byte count; `banner` is sent first. */
async function upstreamServer(banner?: string): Promise<{ port: number; received: Buffer[]; close(): void }> {
  const received: Buffer[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    const chunks: Buffer[] = [];
    if (banner !== undefined) s.write(banner);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => {
      received.push(Buffer.concat(chunks));
      s.end(`got:${Buffer.concat(chunks).length}`);
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, received, close: () => server.close() };
}

type Mode = 'stream' | 'fd';

/** A loopback listener handing connections to the harness as the tproxy inbound `in4` does in `mode`. */
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

interface Setup {
  readonly timeoutMs: number;
  readonly overrideDestination?: boolean;
  readonly banner?: string;
  /** Which inbound sniffs (default `in4`, the one connections arrive on). */
  readonly sniffTag?: string;
  /** Turn the splice relay off: every flow takes the stream relay. */
  readonly noSplice?: boolean;
}

/** A harness with sniffing on `in4`, an upstream server, and a connected client. */
async function setup(mode: Mode, s: Setup) {
  const { logger, lines } = captureLogger();
  const upstream = await upstreamServer(s.banner);
  const outbound = new Recorder('out', () => upstream.port);
  const counting = countingBinding();
  let h!: FlowHarness;
  const listener = await listen(() => h, mode);
  h = createFlowHarness({
    outbounds: [outbound],
    logger,
    splice: s.noSplice ? undefined : counting.binding,
    sniff: { [s.sniffTag ?? 'in4']: { timeoutMs: s.timeoutMs, overrideDestination: s.overrideDestination } },
  });
  const client = net.connect({ port: listener.port, host: '127.0.0.1', allowHalfOpen: true, noDelay: true });
  const got: Buffer[] = [];
  let error: string | undefined;
  client.on('data', (d: Buffer) => got.push(d));
  client.on('error', (e: NodeJS.ErrnoException) => (error = e.code));
  const closed = new Promise((r) => client.once('close', r));
  await new Promise((r) => client.once('connect', r));
  return {
    h,
    lines,
    upstream,
    outbound,
    client,
    spliced: counting.spliced,
    received: () => Buffer.concat(got).toString(),
    error: () => error,
    /** Waits for the client's end and the flow's access-log line; closes the servers. */
    async done() {
      await closed;
      await waitUntil(() => h.active.tcp === 0, 'no live flows');
      listener.close();
      upstream.close();
      return lines.find((l) => l.msg === 'flow closed')!;
    },
  };
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
// Far beyond the waits below: a flow routed while it runs was routed on the sniffer's answer, not on the timeout.
const NEVER = 50_000;

for (const mode of ['fd', 'stream'] as const) {
  describe(`TCP sniffing (${mode === 'fd' ? 'accepted natively' : 'accepted as sockets'})`, () => {
    before(() => assert.ok(spliceAvailable(native()), 'splice() is not available in this kernel or sandbox'));

    it('routes on a ClientHello split over records and segments as soon as it is whole, replays it unchanged, and splices', async () => {
      const t = await setup(mode, { timeoutMs: NEVER });
      const hello = inRecords(clientHello({ sni: 'Split.Example' }), [40, 100]);
      for (const [a, b] of [[0, 3], [3, 60], [60, hello.length - 1]]) {
        t.client.write(hello.subarray(a, b));
        await pause(30);
      }
      assert.equal(t.h.routed.length, 0, 'not routed on an incomplete ClientHello');
      t.client.write(hello.subarray(hello.length - 1));
      await waitUntil(() => t.h.routed.length === 1, 'routed');
      assert.equal(t.h.routed[0]!.host, 'split.example');
      assert.equal(t.h.routed[0]!.sniffed, 'tls');
      t.client.end('after');
      const line = await t.done();
      assert.deepEqual(t.upstream.received, [Buffer.concat([hello, Buffer.from('after')])]);
      assert.equal(t.received(), `got:${hello.length + 5}`);
      assert.equal(t.outbound.dialled.length, 1);
      assert.equal(t.outbound.dialled[0]!.address, '127.0.0.1');
      assert.equal(t.outbound.dialled[0]!.host, undefined, 'override_destination false: the outbound gets no host');
      assert.equal(t.spliced(), 1, 'the splice relay carried the flow');
      assert.equal(line.host, 'split.example');
      assert.equal(line.sniffed, 'tls');
      assert.equal(line.up, hello.length + 5);
      assert.equal(t.h.closed[0]!.sniffed, 'tls');
    });

    it('routes on an HTTP Host line at once and, with override_destination, hands the outbound the name', async () => {
      const t = await setup(mode, { timeoutMs: NEVER, overrideDestination: true });
      const head = 'GET /x HTTP/1.1\r\nHost: Web.Example:8080\r\n';
      t.client.write(head);
      await waitUntil(() => t.h.routed.length === 1, 'routed');
      t.client.end('Accept: */*\r\n\r\n');
      const line = await t.done();
      assert.equal(t.upstream.received[0]!.toString(), `${head}Accept: */*\r\n\r\n`);
      assert.equal(t.outbound.dialled[0]!.host, 'web.example');
      assert.deepEqual([line.host, line.sniffed], ['web.example', 'http']);
      assert.equal(t.spliced(), 1);
    });

    it('routes at once, without a name, on bytes that are neither TLS nor HTTP', async () => {
      const t = await setup(mode, { timeoutMs: NEVER });
      t.client.write('SSH-2.0-OpenSSH_9.2\r\n');
      await waitUntil(() => t.h.routed.length === 1, 'routed');
      t.client.end();
      const line = await t.done();
      assert.equal(t.upstream.received[0]!.toString(), 'SSH-2.0-OpenSSH_9.2\r\n');
      assert.equal(line.host, undefined);
      assert.equal(line.sniffed, undefined);
      assert.equal(t.h.routed[0]!.host, undefined);
    });

    it('routes a silent client when the timeout passes, and the server-first banner reaches it', async () => {
      const t = await setup(mode, { timeoutMs: 200, banner: '220 banner\r\n' });
      await waitUntil(() => t.received() === '220 banner\r\n', 'the banner');
      assert.equal(t.h.routed.length, 1);
      t.client.end('QUIT\r\n');
      const line = await t.done();
      assert.equal(t.upstream.received[0]!.toString(), 'QUIT\r\n');
      assert.equal(t.received(), '220 banner\r\ngot:6');
      assert.equal(line.host, undefined);
      assert.equal(line.error, undefined);
    });

    it('a client that half-closes during an incomplete message is routed at once, and its bytes and FIN reach the upstream', async () => {
      const t = await setup(mode, { timeoutMs: NEVER });
      t.client.end('GET / HT');
      const line = await t.done();
      assert.deepEqual(t.upstream.received.map(String), ['GET / HT']);
      assert.equal(t.received(), 'got:8');
      assert.equal(line.up, 8);
      assert.equal(line.error, undefined);
    });

    it('abortAll() while a flow is sniffed resets the client and logs the reason', async () => {
      const t = await setup(mode, { timeoutMs: NEVER });
      await waitUntil(() => t.h.active.tcp === 1, 'an accepted flow');
      t.h.abortAll('shutting down');
      const line = await t.done();
      assert.equal(t.error(), 'ECONNRESET');
      assert.equal(line.error, 'shutting down');
      assert.equal(t.h.routed.length, 0);
    });

    it('a client that goes away while it is sniffed ends the flow without routing it', async () => {
      const t = await setup(mode, { timeoutMs: NEVER });
      await waitUntil(() => t.h.active.tcp === 1, 'an accepted flow');
      t.client.resetAndDestroy();
      await waitUntil(() => t.h.active.tcp === 0, 'the flow ended');
      assert.equal(t.h.routed.length, 0);
      assert.match(String(t.lines.find((l) => l.msg === 'flow closed')!.error), /client closed/);
      t.upstream.close();
    });

    it('an inbound without sniff routes a silent client at once, as before', async () => {
      const t = await setup(mode, { timeoutMs: NEVER, sniffTag: 'other', banner: 'hello\r\n' });
      await waitUntil(() => t.received() === 'hello\r\n', 'the banner');
      t.client.end();
      const line = await t.done();
      assert.equal(line.host, undefined);
    });
  });
}

describe('TCP sniffing with the stream relay (splice off)', () => {
  it('writes the sniffed bytes to the upstream first, then the rest, and passes a half-close on', async () => {
    const t = await setup('stream', { timeoutMs: NEVER, noSplice: true });
    const hello = inRecords(clientHello({ sni: 'stream.example' }), [64]);
    t.client.write(hello);
    await waitUntil(() => t.h.routed.length === 1, 'routed');
    t.client.end('tail');
    const line = await t.done();
    assert.deepEqual(t.upstream.received, [Buffer.concat([hello, Buffer.from('tail')])]);
    assert.equal(t.spliced(), 0);
    assert.deepEqual([line.host, line.up], ['stream.example', hello.length + 4]);
  });

  it('passes on the FIN of a client that half-closed while it was sniffed', async () => {
    const t = await setup('stream', { timeoutMs: NEVER, noSplice: true });
    t.client.end('PUT');
    const line = await t.done();
    assert.deepEqual(t.upstream.received.map(String), ['PUT']);
    assert.equal(t.received(), 'got:3');
    assert.equal(line.error, undefined);
  });
});
