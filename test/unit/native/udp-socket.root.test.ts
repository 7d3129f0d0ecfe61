import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import { native, isNativeError, UdpDatagram, UdpTransparentSocket, UdpTransparentSocketOptions } from '@sluice/native';
import { onceWithin, waitFor } from '../../helpers/wait';

// Free splice pipes from earlier suites close on a timer; trim them first so the count cannot shift under a test.
const openFds = (): number => {
  native().splicePoolTrim();
  return fs.readdirSync('/proc/self/fd').length;
};

/** A socket on 127.0.0.1 that records every batch, plus a client socket. */
async function fixture(options: Partial<UdpTransparentSocketOptions> = {}, onBatch?: (b: UdpDatagram[]) => void) {
  const batches: UdpDatagram[][] = [];
  const socket = new (native().UdpTransparentSocket)({ address: '127.0.0.1', port: 0, ...options }, (b) => {
    batches.push(b);
    onBatch?.(b);
  });
  const port = native().localAddress(socket.fd).port;
  const client = dgram.createSocket('udp4').bind(0, '127.0.0.1');
  await onceWithin(client, 'listening');
  const received = () => batches.flat();
  return { socket, port, client, batches, received };
}

describe('native: UdpTransparentSocket (loopback)', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const fn of cleanups.splice(0)) fn();
    global.gc?.();
  });
  function track<T extends { socket: UdpTransparentSocket; client: dgram.Socket }>(f: T): T {
    cleanups.push(() => {
      f.socket.close();
      f.client.close();
    });
    return f;
  }

  it('delivers datagrams with source and original destination, and replies from its own address', async () => {
    const f = track(await fixture({}, (b) => {
      for (const d of b) f.socket.send(Buffer.from(`re:${d.data}`), d.dstAddress, d.dstPort, d.srcAddress, d.srcPort);
    }));
    for (const word of ['first', 'second']) {
      f.client.send(word, f.port, '127.0.0.1');
      const [message, rinfo] = await onceWithin<[Buffer, dgram.RemoteInfo]>(f.client, 'message');
      assert.equal(message.toString(), `re:${word}`);
      assert.deepEqual({ address: rinfo.address, port: rinfo.port }, { address: '127.0.0.1', port: f.port });
    }
    const [d] = f.received();
    assert.ok(Buffer.isBuffer(d.data));
    assert.deepEqual(
      { ...d, data: d.data.toString() },
      { data: 'first', srcAddress: '127.0.0.1', srcPort: f.client.address().port, dstAddress: '127.0.0.1', dstPort: f.port },
    );
    // Both datagrams reached the socket: the reply did not open a second
    // socket on its address that would have taken the second one.
    assert.deepEqual(f.socket.stats(), {
      received: 2,
      batches: 2,
      sent: 2,
      sendDropped: 0,
      receiveDropped: 0,
      replySockets: 0,
      sessions: 0,
      forwarded: 0,
      forwardCalls: 0,
      forwardDropped: 0,
      replied: 0,
      replyDropped: 0,
    });
  });

  it('sends from any given address and port through cached reply sockets', async () => {
    const f = track(await fixture());
    const replies: Array<{ data: string; address: string; port: number }> = [];
    f.client.on('message', (m, r) => replies.push({ data: m.toString(), address: r.address, port: r.port }));
    const to = f.client.address();
    assert.equal(f.socket.send(Buffer.from('a'), '127.0.0.2', 7001, to.address, to.port), true);
    assert.equal(f.socket.send(Buffer.from('b'), '127.0.0.3', 7002, to.address, to.port), true);
    assert.equal(f.socket.send(Buffer.from('c'), '127.0.0.2', 7001, to.address, to.port), true);
    await waitFor('3 replies', () => replies.length === 3);
    assert.deepEqual(replies, [
      { data: 'a', address: '127.0.0.2', port: 7001 },
      { data: 'b', address: '127.0.0.3', port: 7002 },
      { data: 'c', address: '127.0.0.2', port: 7001 },
    ]);
    assert.equal(f.socket.stats().replySockets, 2);
    assert.equal(f.socket.stats().sent, 3);
  });

  it('calls onBatch once per batch, not once per datagram, and loses nothing', async () => {
    const f = track(await fixture({ receiveBufferSize: 1 << 20 }));
    for (let i = 0; i < 200; i++) f.client.send(String(i), f.port, '127.0.0.1');
    await waitFor('all 200 datagrams', () => f.received().length === 200, { timeoutMs: 10_000 });
    assert.ok(f.batches.length < 200, `callbacks: ${f.batches.length}`);
    assert.ok(f.batches.some((b) => b.length > 1), 'some batch should hold several datagrams');
    assert.ok(f.batches.every((b) => b.length <= 64), 'batchSize defaults to 64');
    const seen = f.received().map((d) => Number(d.data.toString())).sort((a, b) => a - b);
    assert.deepEqual(seen, Array.from({ length: 200 }, (_, i) => i));
    assert.equal(f.socket.stats().batches, f.batches.length);
    assert.equal(f.socket.stats().received, 200);
  });

  it('caps batches per wakeup so the loop runs in between (batchSize, maxBatchesPerWakeup)', async () => {
    // Counts event-loop turns: a check-phase callback runs once per turn.
    const turns: number[] = [];
    let turn = 0;
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    cleanups.push(() => (ticking = false));
    const f = track(await fixture({ batchSize: 4, maxBatchesPerWakeup: 2, receiveBufferSize: 1 << 20 }, () => turns.push(turn)));
    // Queued within one tick, before the loop can run the socket's poll callback.
    for (let i = 0; i < 40; i++) f.client.send(String(i), f.port, '127.0.0.1');
    await waitFor('all 40 datagrams', () => f.received().length === 40);
    assert.ok(f.batches.every((b) => b.length <= 4));
    assert.ok(f.batches.length >= 10);
    assert.ok(new Set(turns).size >= 5, `40 datagrams, 4 per batch, 2 batches per turn: ${turns}`);
    // At most 2 batches between two loop turns.
    const perTurn = new Map<number, number>();
    for (const t of turns) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
    assert.equal(Math.max(...perTurn.values()), 2, `batches per turn: ${JSON.stringify([...perTurn])}`);
  });

  it('drops and counts datagrams longer than maxDatagramSize', async () => {
    const f = track(await fixture({ maxDatagramSize: 100 }));
    f.client.send(Buffer.alloc(200, 1), f.port, '127.0.0.1');
    f.client.send(Buffer.alloc(100, 2), f.port, '127.0.0.1');
    await waitFor('both datagrams', () => f.socket.stats().receiveDropped + f.socket.stats().received === 2);
    assert.equal(f.received().length, 1);
    assert.equal(f.received()[0].data.length, 100);
    assert.equal(f.socket.stats().receiveDropped, 1);
  });

  it('keeps at most replyCacheSize reply sockets (least recently used out)', async () => {
    const f = track(await fixture({ replyCacheSize: 2 }));
    const replies: string[] = [];
    f.client.on('message', (m, r) => replies.push(`${m}@${r.address}:${r.port}`));
    const to = f.client.address();
    const fdsBefore = openFds();
    f.socket.send(Buffer.from('1'), '127.0.0.2', 7101, to.address, to.port);
    f.socket.send(Buffer.from('2'), '127.0.0.3', 7102, to.address, to.port);
    f.socket.send(Buffer.from('3'), '127.0.0.4', 7103, to.address, to.port);
    assert.equal(f.socket.stats().replySockets, 2);
    assert.equal(openFds() - fdsBefore, 2, 'the evicted socket is closed');
    await waitFor('3 replies', () => replies.length === 3);
    assert.deepEqual(replies.sort(), ['1@127.0.0.2:7101', '2@127.0.0.3:7102', '3@127.0.0.4:7103']);
  });

  it('closes reply sockets idle longer than replyIdleMs (swept on send, at most once a second)', async () => {
    const f = track(await fixture({ replyIdleMs: 100 }));
    const to = f.client.address();
    f.socket.send(Buffer.from('x'), '127.0.0.2', 7201, to.address, to.port);
    assert.equal(f.socket.stats().replySockets, 1);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    f.socket.send(Buffer.from('y'), '127.0.0.3', 7202, to.address, to.port);
    assert.equal(f.socket.stats().replySockets, 1, 'the idle socket for 127.0.0.2:7201 is gone');
    // The survivor is the fresh one: reusing it does not add a socket.
    f.socket.send(Buffer.from('z'), '127.0.0.3', 7202, to.address, to.port);
    assert.equal(f.socket.stats().replySockets, 1);
  });

  it('close() is idempotent, closes every fd, and later sends throw EBADF', async () => {
    const fdsBefore = openFds();
    const f = await fixture();
    const to = f.client.address();
    f.socket.send(Buffer.from('x'), '127.0.0.2', 7301, to.address, to.port);
    f.socket.send(Buffer.from('x'), '127.0.0.3', 7302, to.address, to.port);
    assert.equal(openFds() - fdsBefore, 4); // socket, client, two reply sockets
    f.socket.close();
    f.socket.close();
    assert.equal(f.socket.fd, -1);
    assert.equal(f.socket.stats().replySockets, 0);
    f.client.close();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(openFds(), fdsBefore);
    assert.throws(
      () => f.socket.send(Buffer.from('late'), '127.0.0.2', 7301, to.address, to.port),
      (err: unknown) => isNativeError(err) && err.code === 'EBADF' && err.errno === 9,
    );
  });

  it('receives IPv4 and IPv6 on a dual-stack socket with addresses un-mapped', async () => {
    const batches: UdpDatagram[][] = [];
    const socket = new (native().UdpTransparentSocket)({ address: '::', port: 0, v6Only: false }, (b) => batches.push(b));
    const port = native().localAddress(socket.fd).port;
    const c4 = dgram.createSocket('udp4');
    const c6 = dgram.createSocket('udp6');
    cleanups.push(() => {
      socket.close();
      c4.close();
      c6.close();
    });
    c4.send('v4', port, '127.0.0.1');
    await waitFor('the IPv4 datagram', () => batches.length === 1);
    c6.send('v6', port, '::1');
    await waitFor('the IPv6 datagram', () => batches.length === 2);
    const [[d4], [d6]] = batches;
    assert.deepEqual([d4.srcAddress, d4.dstAddress, d4.dstPort], ['127.0.0.1', '127.0.0.1', port]);
    assert.deepEqual([d6.srcAddress, d6.dstAddress, d6.dstPort], ['::1', '::1', port]);
  });

  it('throws EADDRINUSE when a socket without SO_REUSEADDR holds the port', async () => {
    const holder = dgram.createSocket('udp4').bind(0, '127.0.0.1');
    await onceWithin(holder, 'listening');
    cleanups.push(() => holder.close());
    const port = holder.address().port;
    assert.throws(
      () => new (native().UdpTransparentSocket)({ address: '127.0.0.1', port }, () => {}),
      (err: unknown) =>
        isNativeError(err) &&
        err.code === 'EADDRINUSE' &&
        err.syscall === 'bind' &&
        err.message.includes(`127.0.0.1:${port} is already in use by another socket (another Sluice, or another service)`),
    );
  });

  it('send() throws EADDRINUSE when another socket without SO_REUSEADDR holds the from address', async () => {
    const f = track(await fixture());
    const holder = dgram.createSocket('udp4').bind(0, '127.0.0.5');
    await onceWithin(holder, 'listening');
    cleanups.push(() => holder.close());
    const from = holder.address().port;
    const to = f.client.address();
    assert.throws(
      () => f.socket.send(Buffer.from('x'), '127.0.0.5', from, to.address, to.port),
      (err: unknown) => isNativeError(err) && err.code === 'EADDRINUSE' && err.syscall === 'bind' && err.message.includes(`127.0.0.5:${from}`),
    );
    assert.equal(f.socket.stats().replySockets, 0);
  });

  it('rejects bad arguments with EINVAL TypeErrors naming the bad value', async () => {
    const { UdpTransparentSocket: Udp } = native();
    const invalid = (pattern: RegExp) => (err: unknown) =>
      err instanceof TypeError && isNativeError(err) && err.code === 'EINVAL' && err.errno === 22 && pattern.test(err.message);
    assert.throws(() => new Udp({ address: 'localhost', port: 0 }, () => {}), invalid(/"localhost" is not an IPv4 or IPv6 address literal/));
    assert.throws(() => new Udp({ address: '127.0.0.1', port: 70000 }, () => {}), invalid(/options\.port must be an integer from 0 to 65535/));
    assert.throws(() => new Udp({ address: '127.0.0.1', port: 0, batchSize: 0 }, () => {}), invalid(/options\.batchSize/));
    assert.throws(() => new Udp({ address: '127.0.0.1', port: 0 }, 'nope' as never), invalid(/onBatch must be a function/));
    const f = track(await fixture());
    assert.throws(() => f.socket.send(Buffer.from('x'), '127.0.0.1', 53, 'not-an-ip', 53), invalid(/"not-an-ip"/));
    assert.throws(() => f.socket.send(Buffer.from('x'), '127.0.0.1', 53, '::1', 53), invalid(/different address families/));
    assert.throws(() => f.socket.send('x' as never, '127.0.0.1', 53, '127.0.0.1', 53), invalid(/data must be a Buffer/));
    assert.throws(() => f.socket.send(Buffer.from('x'), '127.0.0.1', 0, '127.0.0.1', 53), invalid(/fromPort/));
  });
});
