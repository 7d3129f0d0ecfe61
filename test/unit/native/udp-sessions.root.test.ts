import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import { native, type UdpDatagram, type UdpSessionClosed, type UdpTransparentSocketOptions } from '@sluice/native';
import { onceWithin, waitFor } from '../../helpers/wait';
import { thrown } from './helpers/errors';

/** True while `fd` is an open file descriptor of this process. */
/** What each fd the tests made pointed at (`socket:[inode]`) when it was made. */
const made = new Map<number, string>();
const targetOf = (fd: number): string | undefined => {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
};
/** Records `fd`'s socket, so {@link isOpen} is not fooled by another suite's handle reusing the number. */
const track = (fd: number): number => {
  made.set(fd, targetOf(fd) ?? '');
  return fd;
};
/** Whether the socket `fd` was made as is still open (the number may since be another socket's). */
const isOpen = (fd: number): boolean => {
  const now = targetOf(fd);
  return now !== undefined && (!made.has(fd) || made.get(fd) === now);
};

/**
 * On 127.0.0.1: the transparent socket, a client, and an upstream UDP server
 * that answers `re:<payload>` and records who sent what. Datagrams sent
 * straight to the socket have the socket's own address as original
 * destination, so replies come back through the socket itself.
 */
async function fixture(options: Partial<UdpTransparentSocketOptions> = {}) {
  const batches: UdpDatagram[][] = [];
  const ended: UdpSessionClosed[] = [];
  const socket = new (native().UdpTransparentSocket)(
    { address: '127.0.0.1', port: 0, ...options },
    (b) => batches.push(b),
    (closed) => ended.push(...closed),
  );
  const port = native().localAddress(socket.fd).port;
  const upstream = dgram.createSocket('udp4');
  const seenUpstream: Array<{ data: string; port: number }> = [];
  upstream.on('message', (m, r) => {
    seenUpstream.push({ data: m.toString(), port: r.port });
    upstream.send(Buffer.concat([Buffer.from('re:'), m]), r.port, r.address);
  });
  upstream.bind(0, '127.0.0.1');
  await onceWithin(upstream, 'listening');
  const client = dgram.createSocket('udp4').bind(0, '127.0.0.1');
  await onceWithin(client, 'listening');
  const replies: Array<{ data: string; address: string; port: number }> = [];
  client.on('message', (m, r) => replies.push({ data: m.toString(), address: r.address, port: r.port }));
  /** A connected UDP socket to the upstream server, as `direct`'s dialUdpFd makes it. */
  const dialUpstream = (connectPort = upstream.address().port): number =>
    track(native().createSocket({ type: 'udp', family: 4, connectAddress: '127.0.0.1', connectPort }));
  const clientPort = client.address().port;
  const attach = (id: number, fd: number, queued?: Buffer[]) => socket.attachSession(id, '127.0.0.1', clientPort, '127.0.0.1', port, fd, queued);
  const send = (text: string) => client.send(text, port, '127.0.0.1');
  const close = () => {
    socket.close();
    upstream.close();
    client.close();
  };
  return { socket, port, batches, ended, upstream, seenUpstream, client, clientPort, replies, dialUpstream, attach, send, close };
}

describe('native: UdpTransparentSocket session relay (loopback)', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const fn of cleanups.splice(0)) fn();
  });
  async function setup(options: Partial<UdpTransparentSocketOptions> = {}) {
    const f = await fixture(options);
    cleanups.push(f.close);
    return f;
  }

  it('relays an attached session without onBatch: queued first, replies from the original destination, counted', async () => {
    const f = await setup();
    const fd = f.dialUpstream();
    assert.deepEqual(f.attach(1, fd, [Buffer.from('queued')]), []);
    await waitFor('reply to the queued datagram', () => f.replies.length === 1);
    for (const word of ['one', 'two', 'three']) f.send(word);
    await waitFor('replies to three datagrams', () => f.replies.length === 4);
    assert.deepEqual(f.batches, [], 'no datagram of an attached session reaches JavaScript');
    assert.deepEqual(
      f.replies,
      ['queued', 'one', 'two', 'three'].map((w) => ({ data: `re:${w}`, address: '127.0.0.1', port: f.port })),
    );
    // The upstream server saw one source: the session's own connected socket.
    assert.equal(new Set(f.seenUpstream.map((s) => s.port)).size, 1);
    assert.equal(f.seenUpstream[0].port, native().localAddress(fd).port);
    const stats = f.socket.stats();
    assert.equal(stats.sessions, 1);
    assert.equal(stats.forwarded, 4);
    assert.equal(stats.replied, 4);
    assert.equal(stats.received, 0);
    // Queued datagrams were counted by whoever queued them: `up` is what the relay itself received.
    assert.deepEqual(f.socket.detachSession(1), { id: 1, up: 'onetwothree'.length, down: 're:queuedre:onere:twore:three'.length, reason: 'closed' });
    assert.equal(isOpen(fd), false, 'detaching closes the upstream socket');
    assert.equal(f.socket.detachSession(1), undefined);
    // Detached: the next datagram goes to JavaScript again.
    f.send('after');
    await waitFor('datagram after detach in onBatch', () => f.batches.length === 1);
    assert.equal((f.batches as UdpDatagram[][])[0][0].data.toString(), 'after');
  });

  it('readSessionBytes reads a live session\'s counts in place, the same the detach reports; false once it ended', async () => {
    const f = await setup();
    f.attach(3, f.dialUpstream());
    const out = new Float64Array(4);
    assert.equal(f.socket.readSessionBytes(3, out, 2), true);
    assert.deepEqual([...out], [0, 0, 0, 0]);
    f.send('hello');
    await waitFor('reply to hello', () => f.replies.length === 1);
    // The session is still attached: its counts are read while it runs.
    assert.equal(f.socket.readSessionBytes(3, out, 2), true);
    assert.deepEqual([...out], [0, 0, 'hello'.length, 're:hello'.length]);
    f.send('again');
    await waitFor('reply to again', () => f.replies.length === 2);
    assert.equal(f.socket.readSessionBytes(3, out), true);
    assert.deepEqual([out[0], out[1]], ['helloagain'.length, 're:hellore:again'.length]);
    assert.equal(f.socket.readSessionBytes(99, out), false, 'no session 99');
    assert.equal(thrown(() => f.socket.readSessionBytes(3, new Float64Array(1))).code, 'EINVAL');
    assert.equal(thrown(() => f.socket.readSessionBytes(3, new Float32Array(2) as unknown as Float64Array)).code, 'EINVAL');
    assert.deepEqual(f.socket.detachSession(3), { id: 3, up: out[0], down: out[1], reason: 'closed' });
    assert.equal(f.socket.readSessionBytes(3, out), false, 'detached');
  });

  it('relays bursts in batches (one sendmmsg per session per received batch) without losing datagrams', async () => {
    const f = await setup({ receiveBufferSize: 1 << 20 });
    f.attach(7, f.dialUpstream());
    // Bursts of 40: each fits the default receive buffers on the way (upstream socket, server, client).
    for (let burst = 0; burst < 5; burst++) {
      for (let i = 0; i < 40; i++) f.send(`q${burst * 40 + i}`);
      await waitFor(`replies to burst ${burst + 1}`, () => f.replies.length === (burst + 1) * 40);
    }
    assert.deepEqual(new Set(f.replies.map((r) => r.data)).size, 200);
    const stats = f.socket.stats();
    assert.equal(stats.forwarded, 200);
    assert.ok(stats.forwardCalls < 200, `sendmmsg calls: ${stats.forwardCalls} for 200 datagrams`);
    assert.equal(stats.replied, 200);
    assert.equal(stats.forwardDropped + stats.replyDropped, 0);
  });

  it('keeps each session\'s datagrams in order when sessions interleave in one batch', async () => {
    const f = await setup({ receiveBufferSize: 1 << 20 });
    const second = dgram.createSocket('udp4').bind(0, '127.0.0.1');
    await onceWithin(second, 'listening');
    cleanups.push(() => second.close());
    const secondReplies: string[] = [];
    second.on('message', (m) => secondReplies.push(m.toString()));
    f.attach(1, f.dialUpstream());
    f.socket.attachSession(2, '127.0.0.1', second.address().port, '127.0.0.1', f.port, f.dialUpstream());
    for (let i = 0; i < 20; i++) {
      f.send(`a${i}`);
      second.send(`b${i}`, f.port, '127.0.0.1');
    }
    await waitFor('both sessions answered', () => f.replies.length === 20 && secondReplies.length === 20);
    const expected = (p: string) => Array.from({ length: 20 }, (_, i) => `re:${p}${i}`);
    assert.deepEqual(f.replies.map((r) => r.data), expected('a'));
    assert.deepEqual(secondReplies, expected('b'));
    // Each upstream server socket saw only its own session's datagrams, in order.
    const byPort = new Map<number, string[]>();
    for (const { data, port } of f.seenUpstream) byPort.set(port, [...(byPort.get(port) ?? []), data]);
    assert.deepEqual([...byPort.values()].map((d) => d[0][0]).sort(), ['a', 'b']);
    for (const d of byPort.values()) assert.deepEqual(d, Array.from({ length: 20 }, (_, i) => `${d[0][0]}${i}`));
    assert.equal(f.socket.stats().forwarded, 40);
  });

  it('ends a session idle past sessionIdleMs, reports it with its counts, and closes its socket', async () => {
    const f = await setup({ sessionIdleMs: 300 });
    const fd = f.dialUpstream();
    f.attach(3, fd);
    f.send('ping');
    await waitFor('reply', () => f.replies.length === 1);
    await waitFor('idle session reported', () => f.ended.length === 1, { timeoutMs: 5_000 });
    assert.deepEqual(f.ended, [{ id: 3, up: 4, down: 7, reason: 'idle timeout' }]);
    assert.equal(f.socket.stats().sessions, 0);
    assert.equal(isOpen(fd), false);
  });

  it('keeps at most maxSessions: attaching past the cap pushes out the least recently active', async () => {
    const f = await setup({ maxSessions: 2 });
    const other = (id: number, clientPort: number) => f.socket.attachSession(id, '127.0.0.1', clientPort, '127.0.0.1', f.port, f.dialUpstream());
    assert.deepEqual(other(1, 40001), []);
    assert.deepEqual(other(2, 40002), []);
    assert.deepEqual(other(3, 40003), [{ id: 1, up: 0, down: 0, reason: 'session limit' }]);
    // The same client and destination attached again replaces the session.
    assert.deepEqual(other(4, 40003), [{ id: 3, up: 0, down: 0, reason: 'replaced' }]);
    assert.equal(f.socket.stats().sessions, 2);
  });

  it('oldestSession() names the least recently active session and how long it has been idle', async () => {
    const f = await setup();
    assert.equal(f.socket.oldestSession(), undefined, 'none attached');
    f.attach(1, f.dialUpstream());
    f.socket.attachSession(2, '127.0.0.1', 40002, '127.0.0.1', f.port, f.dialUpstream());
    // Session 1 carries a datagram after 2 attached: 2 is now the least recently active.
    await new Promise((r) => setTimeout(r, 50));
    f.send('x');
    await waitFor('reply on session 1', () => f.replies.length === 1);
    const oldest = f.socket.oldestSession()!;
    assert.equal(oldest.id, 2);
    assert.ok(oldest.idleMs >= 40, `idle ${oldest.idleMs} ms`);
    f.socket.detachSession(2);
    assert.equal(f.socket.oldestSession()?.id, 1);
    f.socket.close();
    assert.equal(f.socket.oldestSession(), undefined, 'none after close');
  });

  it('ends a session at once when the upstream port answers ICMP port unreachable, reporting the error', async () => {
    const f = await setup();
    const closed = dgram.createSocket('udp4').bind(0, '127.0.0.1');
    await onceWithin(closed, 'listening');
    const deadPort = closed.address().port;
    closed.close();
    const fd = f.dialUpstream(deadPort);
    f.attach(5, fd);
    f.send('x0');
    await waitFor('the session reported closed', () => f.ended.length === 1);
    assert.deepEqual(f.ended, [{ id: 5, up: 2, down: 0, reason: 'upstream: ECONNREFUSED (port unreachable)' }]);
    assert.equal(f.socket.stats().sessions, 0);
    assert.equal(isOpen(fd), false, 'its upstream socket is closed');
    // The next datagram is no session's: it goes to JavaScript, which may route it again.
    f.send('x1');
    await waitFor('the next datagram delivered to onBatch', () => f.batches.length === 1);
  });

  it('close() ends every session with reason shutdown and returns their counts', async () => {
    const f = await setup();
    const fd = f.dialUpstream();
    f.attach(9, fd);
    f.send('bye');
    await waitFor('reply', () => f.replies.length === 1);
    assert.deepEqual(f.socket.close(), [{ id: 9, up: 3, down: 6, reason: 'shutdown' }]);
    assert.deepEqual(f.socket.close(), []);
    assert.equal(isOpen(fd), false);
    assert.deepEqual(f.ended, [], 'close() returns them; onSessionsClosed is not called');
  });

  it('owns the fd even when attachSession throws: bad arguments are EINVAL, a closed socket EBADF', async () => {
    const f = await setup();
    const fd1 = f.dialUpstream();
    const bad = thrown(() => f.socket.attachSession(1, 'not-an-ip', 5000, '127.0.0.1', f.port, fd1));
    assert.equal(bad.code, 'EINVAL');
    assert.match(bad.message, /not-an-ip/);
    assert.equal(isOpen(fd1), false);
    const fd2 = f.dialUpstream();
    const mixed = thrown(() => f.socket.attachSession(1, '::1', 5000, '127.0.0.1', f.port, fd2));
    assert.equal(mixed.code, 'EINVAL');
    assert.equal(isOpen(fd2), false);
    f.socket.close();
    const fd3 = f.dialUpstream();
    assert.equal(thrown(() => f.attach(2, fd3)).code, 'EBADF');
    assert.equal(isOpen(fd3), false);
  });

  it('createSocket connects UDP sockets only when asked, and only UDP ones', () => {
    const fd = track(native().createSocket({ type: 'udp', family: 4, connectAddress: '127.0.0.1', connectPort: 9 }));
    try {
      assert.equal(native().localAddress(fd).address, '127.0.0.1');
    } finally {
      native().closeFd(fd);
    }
    assert.equal(thrown(() => native().createSocket({ type: 'tcp', family: 4, connectAddress: '127.0.0.1', connectPort: 9 })).code, 'EINVAL');
    assert.equal(thrown(() => native().createSocket({ type: 'udp', family: 4, connectAddress: '127.0.0.1' })).code, 'EINVAL');
    assert.equal(thrown(() => native().createSocket({ type: 'udp', family: 6, connectAddress: '127.0.0.1', connectPort: 9 })).code, 'EINVAL');
  });
});
