import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { NativeBinding, NativeError, SpliceRelay, SpliceRelayConnect, SpliceRelayResult } from '@sluice/native';
import type { TcpRelay, TcpRelayOptions, TcpRelayResult } from './stream-relay';

/** Options of {@link spliceRelayEnds}. */
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

/**
 * Whether {@link spliceRelayEnds} can be used with this binding: the addon has
 * the relay, `splice()` works in this kernel/sandbox, and no relay has
 * reported it unsupported since.
 */
export function spliceAvailable(native: NativeBinding): boolean {
  return (
    typeof native.SpliceRelay === 'function' &&
    typeof native.spliceSupported === 'function' &&
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

/** Everything the stream has read from the kernel and not yet handed to anyone. */
function takeBuffered(stream: net.Socket): Buffer {
  const chunks: Buffer[] = [];
  for (let c = stream.read() as Buffer | null; c !== null; c = stream.read() as Buffer | null) chunks.push(c);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/**
 * Relays two TCP ends in the kernel with `splice()` (see the native
 * `SpliceRelay`): same contract as `relayTcp` (half-close, backpressure, idle
 * timeout, byte counts, a reset on failure), a fraction of the CPU.
 *
 * Each end is a bare connected fd or a stream. A stream end must be an
 * eligible `net.Socket` (plain TCP, connected, paused, nothing left to write);
 * bytes it already read are collected with `read()` and sent first, after
 * `replay` (what a sniffer read from the client before). Two bare fds are
 * adopted as they are; otherwise the relay takes copies, and on success each
 * socket end is destroyed (sending nothing: the relay holds its copy; it
 * still emits `'close'`, so detach listeners that would take that for the
 * end of the flow) and each bare fd closed. `result` is the end of the flow.
 *
 * Returns undefined, leaving both ends as they were, when an end is not
 * eligible or the relay cannot start: use `relayTcp` then.
 */
export function spliceRelayEnds(
  client: number | Duplex,
  upstream: number | Duplex,
  opts: SpliceRelayOptions,
  native: NativeBinding,
  replay?: Buffer,
): TcpRelay | undefined {
  if (!spliceAvailable(native)) return undefined;
  if (typeof client === 'number' && typeof upstream === 'number' && replay === undefined) {
    // Nothing else polls these fds, so the relay adopts them: no copies. Nothing was read before.
    return startRelay(native, client, upstream, opts, { adopt: true }, 0, 0);
  }
  const fdA = typeof client === 'number' ? client : handOverFd(client);
  const fdB = typeof upstream === 'number' ? upstream : handOverFd(upstream);
  if (fdA === undefined || fdB === undefined) return undefined;
  const clientSocket = typeof client === 'number' ? undefined : (client as net.Socket);
  const upstreamSocket = typeof upstream === 'number' ? undefined : (upstream as net.Socket);
  const bufferedA = clientSocket ? takeBuffered(clientSocket) : undefined;
  const pendingB = upstreamSocket ? takeBuffered(upstreamSocket) : undefined;
  const pendingA = replay === undefined ? bufferedA : bufferedA === undefined || bufferedA.length === 0 ? replay : Buffer.concat([replay, bufferedA]);

  // Counted as relayTcp counts: bytes read from the client, bytes written to it.
  const upBefore = clientSocket ? clientSocket.bytesRead - pendingA!.length : 0;
  const downBefore = clientSocket ? clientSocket.bytesWritten : 0;
  const relay = startRelay(native, fdA, fdB, opts, { pendingA, pendingB }, upBefore, downBefore);
  if (!relay) {
    // Not a TCP socket after all, not connected any more, out of fds…: put the bytes back for relayTcp (the caller keeps `replay`).
    if (bufferedA && bufferedA.length > 0) clientSocket!.unshift(bufferedA);
    if (pendingB && pendingB.length > 0) upstreamSocket!.unshift(pendingB);
    return undefined;
  }
  // Closing an fd of which the relay holds a copy sends nothing to the peer.
  if (clientSocket) clientSocket.destroy();
  else native.closeFd(fdA);
  if (upstreamSocket) upstreamSocket.destroy();
  else native.closeFd(fdB);
  return relay;
}

/** How a relay that made its own upstream ({@link spliceConnectRelay}) ended. */
export interface ConnectingRelayResult extends TcpRelayResult {
  /** Whether the upstream connect completed; when false nothing was relayed and `error` says why. */
  readonly connected: boolean;
  /** The connect's error (`ECONNREFUSED`…), when it failed. */
  readonly connectError?: NativeError;
  /** The connect outlasted its timeout. */
  readonly connectTimedOut?: boolean;
}

/** A {@link TcpRelay} whose result also tells how its upstream connect went. */
export interface ConnectingRelay extends TcpRelay {
  readonly result: Promise<ConnectingRelayResult>;
}

/**
 * Relays the bare client fd `client` to an upstream the native relay connects
 * itself (`connect`): one native call per flow instead of dial, wait, relay.
 * The relay adopts `client`. Returns undefined, owning nothing, when the relay
 * cannot start (splice unavailable, bad options, a socket option refused):
 * dial the usual way then.
 */
export function spliceConnectRelay(client: number, connect: SpliceRelayConnect, opts: SpliceRelayOptions, native: NativeBinding): ConnectingRelay | undefined {
  if (!spliceAvailable(native)) return undefined;
  return startRelay(native, client, null, opts, { adopt: true, connect }, 0, 0) as ConnectingRelay | undefined;
}

/** Where running relays write their counters (one flow read at a time, on this thread). */
const scratch = new Float64Array(2);

/**
 * Starts a native relay on `fdA` (client side) and `fdB` and wraps it as a
 * {@link TcpRelay}; `upBefore`/`downBefore` are the bytes the flow had already
 * moved. Undefined when the native side refuses (it then owns nothing).
 */
function startRelay(
  native: NativeBinding,
  fdA: number,
  fdB: number | null,
  opts: SpliceRelayOptions,
  pending: { pendingA?: Buffer; pendingB?: Buffer; adopt?: boolean; connect?: SpliceRelayConnect },
  upBefore: number,
  downBefore: number,
): TcpRelay | undefined {
  let settle!: (r: TcpRelayResult) => void;
  const result = new Promise<TcpRelayResult>((resolve) => (settle = resolve));
  let abortReason: string | undefined;
  const onDone = (r: SpliceRelayResult): void => {
    const up = upBefore + r.up;
    const down = downBefore + r.down;
    const error = abortReason ?? r.error;
    const ended: TcpRelayResult = error === undefined ? { up, down } : { up, down, error };
    if (r.connected === undefined) settle(ended);
    else settle({ ...ended, connected: r.connected, connectError: r.connectError, connectTimedOut: r.connectTimedOut } as ConnectingRelayResult);
  };
  let relay: SpliceRelay;
  try {
    const options = {
      idleMs: opts.idleMs,
      pendingA: pending.pendingA,
      pendingB: pending.pendingB,
      adopt: pending.adopt,
      pipeSize: opts.pipeSize ?? DEFAULT_SPLICE_PIPE_SIZE,
      connect: pending.connect,
    };
    relay = new native.SpliceRelay(fdA, fdB, options, onDone);
  } catch {
    return undefined;
  }
  let final: { up: number; down: number } | undefined;
  void result.then((r) => (final = { up: r.up, down: r.down }));
  return {
    result,
    abort(reason) {
      // Recorded as given, as relayTcp does; ignored once the relay has ended by itself.
      if (relay.abort(reason)) abortReason ??= reason;
    },
    bytes() {
      if (final) return final;
      // An addon built before readBytes existed still answers, allocating.
      if (typeof relay.readBytes !== 'function') {
        const s = relay.stats();
        return { up: upBefore + s.up, down: downBefore + s.down };
      }
      relay.readBytes(scratch, 0);
      return { up: upBefore + scratch[0]!, down: downBefore + scratch[1]! };
    },
  };
}
