import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { NativeBinding, SpliceRelay, SpliceRelayResult } from '@sluice/native';
import type { TcpRelay, TcpRelayOptions, TcpRelayResult } from './stream-relay';

/** Options of {@link spliceRelay}. */
export interface SpliceRelayOptions extends TcpRelayOptions {
  /**
   * Capacity a direction's kernel pipe grows to once it has carried 1 MiB
   * (pipes start at 64 KiB); default {@link DEFAULT_SPLICE_PIPE_SIZE}. Larger
   * moves more per system call and can hold more per flow when a reader is slow.
   */
  readonly pipeSize?: number;
}

/** Default bulk pipe capacity, 1 MiB (also the kernel's default `fs.pipe-max-size`); see `bench/relay-loopback.js`. */
export const DEFAULT_SPLICE_PIPE_SIZE = 1024 * 1024;

/** Bindings on which `splice()` was refused at run time (`unsupported`): no more attempts there. */
const refused = new WeakSet<NativeBinding>();

/**
 * Whether {@link spliceRelay} can be used with this binding: the addon has
 * the relay, `splice()` works in this kernel/sandbox, and no relay has
 * reported it unsupported since.
 */
export function spliceAvailable(native: NativeBinding): boolean {
  return (
    typeof native.SpliceRelay === 'function' &&
    typeof native.spliceSupported === 'function' &&
    !refused.has(native) &&
    native.spliceSupported()
  );
}

/** The libuv handle behind a `net.Socket`; not public API, but stable since Node 0.x. */
interface WithHandle {
  _handle?: { fd?: unknown } | null;
}

/**
 * The fd of a socket whose bytes can be taken over from the kernel, or
 * undefined: a plain (not TLS) connected TCP socket, writable, with nothing
 * waiting to be written, no encoding, and nobody consuming it right now.
 */
function handOverFd(stream: Duplex): number | undefined {
  if (!(stream instanceof net.Socket) || 'encrypted' in stream) return undefined;
  if (stream.destroyed || stream.connecting || stream.pending || !stream.writable) return undefined;
  if (stream.writableLength > 0 || stream.readableFlowing === true) return undefined;
  if (stream.readableEncoding !== null || stream.readableObjectMode) return undefined;
  const fd = (stream as WithHandle)._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Whether {@link spliceRelayFd} can take `client` right now: splice works
 * with this binding and the socket is eligible (see {@link spliceRelay}).
 * Checked before dialing so that a flow that cannot be spliced gets a stream.
 */
export function canSpliceClient(client: Duplex, native: NativeBinding): boolean {
  return spliceAvailable(native) && handOverFd(client) !== undefined;
}

/** Everything the stream has read from the kernel and not yet handed to anyone. */
function takeBuffered(stream: net.Socket): Buffer {
  const chunks: Buffer[] = [];
  for (let c = stream.read() as Buffer | null; c !== null; c = stream.read() as Buffer | null) chunks.push(c);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/**
 * Relays `client` and `upstream` in the kernel with `splice()` (see the
 * native `SpliceRelay`): same contract as `relayTcp` (half-close,
 * backpressure, idle timeout, byte counts, a reset on failure), a fraction
 * of the CPU.
 *
 * Both must be connected `net.Socket`s over TCP, paused (accepted with
 * `pauseOnConnect`, or `pause()`d) with nothing left to write. Bytes they
 * already read are collected with `read()` and sent first; bytes read earlier
 * by someone else (a sniffer) must have been passed on or `unshift()`ed back.
 * On success both Node sockets are destroyed without sending anything (the
 * relay owns copies of their fds): each still emits `'close'` (and `'end'` if
 * Node had already seen the EOF), so detach listeners that would take that for
 * the end of the flow; `result` is the end of the flow.
 *
 * Returns undefined, leaving both sockets as they were, when a socket is not
 * eligible or the relay cannot start: use `relayTcp` then. Should `splice()`
 * turn out unsupported at run time (EINVAL: a sandbox), that one flow fails
 * and {@link spliceAvailable} is false from then on.
 */
export function spliceRelay(client: Duplex, upstream: Duplex, opts: SpliceRelayOptions, native: NativeBinding): TcpRelay | undefined {
  if (!spliceAvailable(native)) return undefined;
  const fdA = handOverFd(client);
  const fdB = handOverFd(upstream);
  if (fdA === undefined || fdB === undefined) return undefined;
  const clientSocket = client as net.Socket;
  const upstreamSocket = upstream as net.Socket;
  const pendingA = takeBuffered(clientSocket);
  const pendingB = takeBuffered(upstreamSocket);

  // Counted as relayTcp counts: bytes read from the client, bytes written to it.
  const relay = startRelay(native, fdA, fdB, opts, { pendingA, pendingB }, clientSocket.bytesRead - pendingA.length, clientSocket.bytesWritten);
  if (!relay) {
    // Not a TCP socket after all, not connected any more, out of fds…: put the bytes back for relayTcp.
    if (pendingA.length > 0) clientSocket.unshift(pendingA);
    if (pendingB.length > 0) upstreamSocket.unshift(pendingB);
    return undefined;
  }
  // Closing an fd of which the relay holds a copy sends nothing to the peer.
  clientSocket.destroy();
  upstreamSocket.destroy();
  return relay;
}

/**
 * {@link spliceRelay} with an upstream that is a raw connected TCP fd (from
 * an outbound's `dialTcpFd`) rather than a stream: no `net.Socket` is ever
 * built for it. On success the relay owns the connection and `upstreamFd` is
 * closed (the relay holds its own copy); on failure (undefined) both the
 * client and `upstreamFd` are left untouched, for the caller to adopt the fd
 * with `new net.Socket({ fd })` and fall back to `relayTcp`.
 */
export function spliceRelayFd(client: Duplex, upstreamFd: number, opts: SpliceRelayOptions, native: NativeBinding): TcpRelay | undefined {
  if (!spliceAvailable(native)) return undefined;
  const fdA = handOverFd(client);
  if (fdA === undefined) return undefined;
  const clientSocket = client as net.Socket;
  const pendingA = takeBuffered(clientSocket);

  const relay = startRelay(native, fdA, upstreamFd, opts, { pendingA }, clientSocket.bytesRead - pendingA.length, clientSocket.bytesWritten);
  if (!relay) {
    if (pendingA.length > 0) clientSocket.unshift(pendingA);
    return undefined;
  }
  clientSocket.destroy();
  native.closeFd(upstreamFd);
  return relay;
}

/**
 * The splice relay between two raw connected TCP fds (a natively accepted
 * client, a natively dialed upstream): no `net.Socket` on either side. On
 * success the relay owns both fds (it adopts them, no copies); on failure
 * (undefined) both are left untouched for the caller to fall back to streams.
 * Byte counts are the relay's own: nothing was read before.
 */
export function spliceRelayFds(clientFd: number, upstreamFd: number, opts: SpliceRelayOptions, native: NativeBinding): TcpRelay | undefined {
  if (!spliceAvailable(native)) return undefined;
  // The relay takes these fds as they are: nothing else polls them, so no copies.
  return startRelay(native, clientFd, upstreamFd, opts, { adopt: true }, 0, 0);
}

/**
 * Starts a native relay on `fdA` (client side) and `fdB` and wraps it as a
 * {@link TcpRelay}; `upBefore`/`downBefore` are the bytes the flow had already
 * moved. Undefined when the native side refuses (it then owns nothing).
 */
function startRelay(
  native: NativeBinding,
  fdA: number,
  fdB: number,
  opts: SpliceRelayOptions,
  pending: { pendingA?: Buffer; pendingB?: Buffer; adopt?: boolean },
  upBefore: number,
  downBefore: number,
): TcpRelay | undefined {
  let settle!: (r: TcpRelayResult) => void;
  const result = new Promise<TcpRelayResult>((resolve) => (settle = resolve));
  let abortReason: string | undefined;
  const onDone = (r: SpliceRelayResult): void => {
    if (r.unsupported) refused.add(native);
    const up = upBefore + r.up;
    const down = downBefore + r.down;
    const error = abortReason ?? r.error;
    settle(error === undefined ? { up, down } : { up, down, error });
  };
  let relay: SpliceRelay;
  try {
    const options = { idleMs: opts.idleMs, pendingA: pending.pendingA, pendingB: pending.pendingB, adopt: pending.adopt, pipeSize: opts.pipeSize ?? DEFAULT_SPLICE_PIPE_SIZE };
    relay = new native.SpliceRelay(fdA, fdB, options, onDone);
  } catch {
    return undefined;
  }
  return {
    result,
    abort(reason) {
      // Recorded as given, as relayTcp does; ignored once the relay has ended by itself.
      if (relay.abort(reason)) abortReason ??= reason;
    },
  };
}
