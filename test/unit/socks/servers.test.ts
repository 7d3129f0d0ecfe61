import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { ErrorCode, isSluiceError } from '@sluice/core';
import type { SocksOutbound } from '@sluice/plugin-socks';
import {
  flowCtx,
  freePort,
  makeSocks,
  nextPacket,
  roundTrip,
  startDante,
  startMicrosocks,
  tcpEcho,
  testDirect,
  udpEcho,
  type ServerProcess,
} from './helpers';

/*
 * Real SOCKS servers on loopback aliases, so each hop is told apart by address:
 *   hop1 = dante on 127.0.0.2 (any client), hop2 = dante on 127.0.0.3 (clients
 *   from 127.0.0.2 only, i.e. only through hop1), microsocks on 127.0.0.4 with auth.
 */
describe('socks outbound against dante and microsocks', function () {
  this.timeout(20_000);
  let hop1: ServerProcess | undefined;
  let hop2: ServerProcess | undefined;
  let micro: ServerProcess | undefined;
  let echo: Awaited<ReturnType<typeof tcpEcho>>;
  let uecho: Awaited<ReturnType<typeof udpEcho>>;
  const servers = (): (ServerProcess | undefined)[] => [hop1, hop2, micro];

  before(async () => {
    echo = await tcpEcho('127.0.0.1');
    uecho = await udpEcho('127.0.0.1');
    [hop1, hop2, micro] = await Promise.all([
      startDante('127.0.0.2'),
      startDante('127.0.0.3', '127.0.0.2/32'),
      startMicrosocks('127.0.0.4', 'user', 'pass'),
    ]);
  });

  after(async () => {
    await Promise.all(servers().map((s) => s?.stop()));
    await echo?.close();
    uecho?.close();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') for (const s of servers()) if (s) console.log(`--- ${s.host}:${s.port}\n${s.output().slice(-2000)}`);
  });

  const dst = (): { address: string; port: number } => ({ address: '127.0.0.1', port: echo.port });
  const hop1Raw = (): Record<string, unknown> => ({ tag: 'hop1', server: hop1!.host, port: hop1!.port });
  const chain = (): SocksOutbound => {
    const first = makeSocks(hop1Raw());
    return makeSocks({ tag: 'hop2', server: hop2!.host, port: hop2!.port, via: 'hop1' }, { hop1: first });
  };

  async function echoes(stream: Duplex): Promise<void> {
    const data = randomBytes(1000);
    assert.deepEqual(await roundTrip(stream, data), data);
    stream.destroy();
  }

  it('TCP through one hop', async () => {
    const before = echo.peers.length;
    await echoes(await makeSocks(hop1Raw()).dialTcp(dst(), flowCtx()));
    assert.equal(echo.peers[before], '127.0.0.2');
  });

  it('TCP through two hops (hop2 admits only hop1)', async () => {
    const before = echo.peers.length;
    await echoes(await chain().dialTcp(dst(), flowCtx()));
    assert.equal(echo.peers[before], '127.0.0.3');
  });

  it('hop2 refuses us when we come directly', async () => {
    await assert.rejects(makeSocks({ server: hop2!.host, port: hop2!.port }).dialTcp(dst(), flowCtx()), (err) => isSluiceError(err) && err.code === ErrorCode.UPSTREAM);
  });

  it('TCP through hop2 via hop1 via a direct outbound (three levels)', async () => {
    const direct = testDirect();
    const first = makeSocks({ ...hop1Raw(), via: 'direct' }, { direct });
    const second = makeSocks({ tag: 'hop2', server: hop2!.host, port: hop2!.port, via: 'hop1' }, { hop1: first });
    await echoes(await second.dialTcp(dst(), flowCtx()));
    assert.deepEqual(direct.tcpDials, [{ address: '127.0.0.2', port: hop1!.port }]);
  });

  it('carries 8 MiB intact through the chain, and 50 flows at once', async () => {
    const s = await chain().dialTcp(dst(), flowCtx());
    const data = randomBytes(8 << 20);
    const start = process.hrtime.bigint();
    assert.ok((await roundTrip(s, data)).equals(data));
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    console.log(`      8 MiB echoed through two dante hops in ${ms.toFixed(0)} ms`);
    s.destroy();
    const out = chain();
    await Promise.all(Array.from({ length: 50 }, async () => echoes(await out.dialTcp(dst(), flowCtx()))));
  });

  it('passes a half-close from upstream on while we keep sending', async () => {
    // Says "bye" and FINs at once, then reports what still arrives from the client.
    let lateData = '';
    let gotLate!: () => void;
    const late = new Promise<void>((r) => (gotLate = r));
    const srv = net.createServer({ allowHalfOpen: true }, (s) => {
      s.end('bye');
      s.on('data', (d: Buffer) => (lateData += d.toString()));
      s.on('end', gotLate);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const s = await chain().dialTcp({ address: '127.0.0.1', port: (srv.address() as net.AddressInfo).port }, flowCtx());
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString()));
    await new Promise((r) => s.once('end', r));
    assert.equal(got, 'bye');
    s.end('still here');
    await late;
    assert.equal(lateData, 'still here');
    s.destroy();
    srv.close();
  });

  it('microsocks: good credentials pass, bad or missing ones are rejected', async () => {
    const before = echo.peers.length;
    await echoes(await makeSocks({ server: micro!.host, port: micro!.port, username: 'user', password: 'pass' }).dialTcp(dst(), flowCtx()));
    assert.equal(echo.peers[before], '127.0.0.4');
    await assert.rejects(makeSocks({ server: micro!.host, port: micro!.port, username: 'user', password: 'wrong' }).dialTcp(dst(), flowCtx()), {
      message: 'socks: auth rejected',
    });
    await assert.rejects(makeSocks({ server: micro!.host, port: micro!.port }).dialTcp(dst(), flowCtx()), { message: 'socks: auth rejected' });
  });

  it('a refused destination maps to the reply code', async () => {
    const closed = await freePort();
    await assert.rejects(makeSocks(hop1Raw()).dialTcp({ address: '127.0.0.1', port: closed }, flowCtx()), {
      message: 'socks: connection refused (reply 5)',
    });
  });

  it('dead upstreams fail within their timeouts', async () => {
    const closed = await freePort('127.0.0.2');
    // Each ends with its own error (refused, handshake timeout, connect timeout), not a hang.
    await assert.rejects(makeSocks({ server: '127.0.0.2', port: closed }).dialTcp(dst(), flowCtx()), { code: ErrorCode.DIAL });
    // Accepts, never answers.
    const mute = net.createServer(() => undefined);
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
    const port = (mute.address() as net.AddressInfo).port;
    await assert.rejects(makeSocks({ server: '127.0.0.1', port, handshake_timeout_ms: 300 }).dialTcp(dst(), flowCtx()), { message: 'socks: handshake timeout' });
    mute.close();
    // Never completes the TCP handshake: a listener whose backlog is full drops our SYN.
    const hole = await blackhole();
    try {
      await assert.rejects(makeSocks({ server: '127.0.0.1', port: hole.port, connect_timeout_ms: 300 }).dialTcp(dst(), flowCtx()), {
        message: 'socks: connect timeout',
        code: ErrorCode.DIAL_TIMEOUT,
      });
    } finally {
      hole.stop();
    }
  });

  it('UDP through one hop', async () => {
    const channel = await makeSocks(hop1Raw()).dialUdp!(flowCtx(undefined, 'udp'));
    const got = nextPacket(channel);
    const before = uecho.peers.length;
    channel.send(Buffer.from('ping-1'), { address: '127.0.0.1', port: uecho.port });
    const { data, from } = await got;
    assert.equal(data.toString(), 'ping-1');
    assert.deepEqual(from, { address: '127.0.0.1', port: uecho.port });
    assert.equal(uecho.peers[before].address, '127.0.0.2');
    channel.close();
  });

  it('UDP through two hops: nested ASSOCIATE, each datagram framed twice', async () => {
    const channel = await chain().dialUdp!(flowCtx(undefined, 'udp'));
    const before = uecho.peers.length;
    for (let i = 0; i < 5; i++) {
      const got = nextPacket(channel);
      channel.send(Buffer.from(`ping-${i}`), { address: '127.0.0.1', port: uecho.port });
      const { data, from } = await got;
      assert.equal(data.toString(), `ping-${i}`);
      assert.deepEqual(from, { address: '127.0.0.1', port: uecho.port });
    }
    assert.equal(uecho.peers[before].address, '127.0.0.3', 'the echo server sees the last hop');
    channel.close();
  });

  it('UDP through hop1 via a direct outbound uses the direct outbound’s UDP', async () => {
    const direct = testDirect();
    const channel = await makeSocks({ ...hop1Raw(), via: 'direct' }, { direct }).dialUdp!(flowCtx(undefined, 'udp'));
    assert.equal(direct.udpDials, 1);
    const got = nextPacket(channel);
    channel.send(Buffer.from('via-direct'), { address: '127.0.0.1', port: uecho.port });
    assert.equal((await got).data.toString(), 'via-direct');
    channel.close();
  });
});

describe('socks outbound over IPv6 (dante on ::1)', function () {
  this.timeout(20_000);
  let dante: ServerProcess | undefined;
  let echo: Awaited<ReturnType<typeof tcpEcho>> | undefined;
  let uecho: Awaited<ReturnType<typeof udpEcho>> | undefined;
  before(async () => {
    echo = await tcpEcho('::1');
    uecho = await udpEcho('::1');
    dante = await startDante('::1');
  });
  after(async () => {
    await dante?.stop();
    await echo?.close();
    uecho?.close();
  });

  it('TCP to an IPv6 destination', async () => {
    const s = await makeSocks({ server: '::1', port: dante!.port }).dialTcp({ address: '::1', port: echo!.port }, flowCtx());
    const data = randomBytes(100);
    assert.deepEqual(await roundTrip(s, data), data);
    s.destroy();
  });

  it('UDP: ASSOCIATE with :: (dante refuses 0.0.0.0 without an IPv4 internal address)', async () => {
    const channel = await makeSocks({ server: '::1', port: dante!.port }).dialUdp!(flowCtx(undefined, 'udp'));
    const got = nextPacket(channel);
    channel.send(Buffer.from('v6'), { address: '::1', port: uecho!.port });
    const { data, from } = await got;
    assert.equal(data.toString(), 'v6');
    assert.deepEqual(from, { address: '::1', port: uecho!.port });
    channel.close();
  });
});

/** A TCP port that never completes a handshake: a backlog-0 listener (Python, which does not accept) with its queue filled. */
async function blackhole(): Promise<{ port: number; stop(): void }> {
  const child: ChildProcess = spawn('python3', [
    '-c',
    'import socket,sys,time\ns=socket.socket();s.bind(("127.0.0.1",0));s.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)',
  ]);
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('error', reject);
  });
  const filler = net.connect(port, '127.0.0.1');
  filler.on('error', () => undefined);
  await new Promise((r) => filler.once('connect', r));
  return {
    port,
    stop: () => {
      filler.destroy();
      child.kill();
    },
  };
}
