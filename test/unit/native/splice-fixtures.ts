/**
 * Loopback fixtures for the splice relay tests (native and core): the four
 * sockets of a proxied flow, deterministic payloads with hashes, fd counts.
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { onceWithin, waitFor } from '../../helpers/wait';

/** A connected loopback pair: `a` dialled, `b` accepted with `pauseOnConnect`; both allowHalfOpen. */
export async function tcpPair(): Promise<{ a: net.Socket; b: net.Socket }> {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  server.listen(0, '127.0.0.1');
  await onceWithin(server, 'listening');
  const accepted = onceWithin<[net.Socket]>(server, 'connection');
  const a = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const [b] = await accepted;
  if (a.connecting) await onceWithin(a, 'connect');
  server.close();
  return { a, b };
}

/**
 * `n` connected loopback pairs through one listener (closed before this
 * resolves, so only the pairs' own 2n fds stay open), `b` accepted with
 * `pauseOnConnect` as in {@link tcpPair}. Dials in batches to stay under the backlog.
 */
export async function tcpPairs(n: number): Promise<Array<{ a: net.Socket; b: net.Socket }>> {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  server.listen(0, '127.0.0.1');
  await onceWithin(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Map<number, net.Socket>(); // by the dialler's port
  server.on('connection', (b: net.Socket) => accepted.set(b.remotePort!, b));
  const dialled: net.Socket[] = [];
  for (let i = 0; i < n; i += 64) {
    const batch = Array.from({ length: Math.min(64, n - i) }, () => net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }));
    await Promise.all(batch.map((a) => onceWithin(a, 'connect')));
    dialled.push(...batch);
  }
  await waitFor(`${n} connections accepted`, () => accepted.size === n);
  server.close();
  return dialled.map((a) => ({ a, b: accepted.get(a.localPort!)! }));
}

/**
 * The sockets of one proxied flow, as Sluice would hold them: `app` ─ `inbound`
 * (accepted, paused) │ relay │ `outbound` (dialled, paused) ─ `server`.
 * `app` and `server` are the peers the tests drive.
 */
export interface Flow {
  app: net.Socket;
  inbound: net.Socket;
  outbound: net.Socket;
  server: net.Socket;
}

/**
 * By default `outbound` is an accepted socket that never read (so nothing sits
 * in Node's buffers); with `dialled`, it is a dialled socket, paused after the
 * connect as Sluice's upstream is, which may have read bytes into Node already.
 */
export async function makeFlow(opts: { dialled?: boolean } = {}): Promise<Flow> {
  const client = await tcpPair();
  const upstream = await tcpPair();
  if (!opts.dialled) return { app: client.a, inbound: client.b, outbound: upstream.b, server: upstream.a };
  upstream.a.pause();
  return { app: client.a, inbound: client.b, outbound: upstream.a, server: upstream.b };
}

/** The fd of a Node socket (its libuv handle's). */
export function fdOf(socket: net.Socket): number {
  return (socket as unknown as { _handle: { fd: number } })._handle.fd;
}

/** Collects what a socket receives (resumes it), with its end and close. */
export function sink(socket: net.Socket): {
  bytes: () => number;
  text: () => string;
  digest: () => string;
  ended: Promise<void>;
  closed: Promise<void>;
  errors: NodeJS.ErrnoException[];
} {
  const chunks: Buffer[] = [];
  const hash = createHash('sha256');
  let bytes = 0;
  const errors: NodeJS.ErrnoException[] = [];
  socket.on('data', (c: Buffer) => {
    bytes += c.length;
    hash.update(c);
    if (chunks.length < 1024) chunks.push(c); // text() is for small payloads
  });
  socket.on('error', (e: NodeJS.ErrnoException) => errors.push(e));
  const ended = new Promise<void>((r) => socket.once('end', () => r()));
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.resume();
  return { bytes: () => bytes, text: () => Buffer.concat(chunks).toString(), digest: () => hash.copy().digest('hex'), ended, closed, errors };
}

/** Deterministic chunk `i` of a payload seeded with `seed`. */
function chunkOf(seed: number, i: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = (seed * 2654435761 + i * 40503 + 1) >>> 0;
  for (let k = 0; k < size; k += 4) {
    x = (x * 1664525 + 1013904223) >>> 0;
    b.writeUInt32LE(x, k);
  }
  return b;
}

/**
 * Writes `total` bytes (a multiple of 64 KiB) honouring backpressure, then
 * ends unless `end` is false. `written()` counts bytes the kernel accepted.
 */
export function source(socket: net.Socket, total: number, seed: number, end = true): { done: Promise<string>; written: () => number } {
  const size = 64 * 1024;
  const hash = createHash('sha256');
  let queued = 0;
  const done = (async () => {
    for (let i = 0; queued < total; i++) {
      const c = chunkOf(seed, i, size);
      hash.update(c);
      queued += c.length;
      if (!socket.write(c)) await onceWithin(socket, 'drain', 60_000);
    }
    if (end) socket.end();
    return hash.digest('hex');
  })();
  return { done, written: () => queued - socket.writableLength };
}

/** Open fds of this process. */
export function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** Resolves after `ms`: pacing only, never an assertion. */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** What each open fd of this process points at (`socket:[…]`, `pipe:[…]`, a path). */
export function fdTargets(): Map<string, string> {
  const out = new Map<string, string>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      out.set(fd, fs.readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // Closed in between (the readdir's own fd).
    }
  }
  return out;
}

/**
 * Waits until the process holds no more fds than `before` (a
 * {@link fdTargets} snapshot): other suites' handles may still be closing
 * (libuv closes on a later loop turn). On timeout the error names every fd
 * that is new since `before`, so a leak says what leaked.
 */
export async function fdsBackTo(before: Map<string, string>, ms = 5_000): Promise<void> {
  try {
    await waitFor('the fds back to where they were', () => fdTargets().size <= before.size, { timeoutMs: ms });
  } catch {
    const now = fdTargets();
    const extra = [...now].filter(([fd, target]) => before.get(fd) !== target).map(([fd, target]) => `${fd} -> ${target}`);
    assert.fail(`${now.size} fds open, ${before.size} before; new: ${extra.join(', ') || '(none by number)'}`);
  }
}
