/**
 * Typed surface of the Sluice native addon. This file and `binding.ts` are the
 * only places that touch the addon untyped; everything else imports from here.
 *
 * Every function throws a {@link NativeError} (an `Error` with `code`, `errno`
 * and `syscall`, and a message that says what to do) when the kernel refuses.
 * Bad arguments (an address that is not an IP literal, a port out of range, a
 * missing option) throw a `TypeError` that is also a NativeError, with code
 * `EINVAL` and the bad value in its message.
 */
import { loadBinding } from './binding';

/** An `Error` raised by a failed system call. */
export interface NativeError extends Error {
  /** errno name, e.g. `EPERM`, `EADDRINUSE`. */
  code: string;
  /** errno number (positive). */
  errno: number;
  /** The call that failed, e.g. `setsockopt(IP_TRANSPARENT)`. */
  syscall: string;
}

/** Type guard for {@link NativeError}. */
export function isNativeError(err: unknown): err is NativeError {
  return err instanceof Error && typeof (err as NativeError).code === 'string' && typeof (err as NativeError).syscall === 'string';
}

/** Options of {@link openTransparentListener}. */
export interface TransparentListenerOptions {
  /** IPv4 or IPv6 literal to bind; `0.0.0.0` / `::` for all. */
  address: string;
  port: number;
  /** listen() backlog; default 511. */
  backlog?: number;
  /** Set `SO_REUSEPORT` so several event loops can each own a listener. */
  reusePort?: boolean;
  /** `IPV6_V6ONLY` for IPv6 listeners; default true. */
  v6Only?: boolean;
}

/** An IP literal and port as the kernel reported them (IPv4-mapped IPv6 un-mapped). */
export interface SocketAddress {
  address: string;
  port: number;
}

/** One received datagram. `dst` is the original destination (`IP_ORIGDSTADDR`). */
export interface UdpDatagram {
  data: Buffer;
  srcAddress: string;
  srcPort: number;
  dstAddress: string;
  dstPort: number;
}

/** Options of {@link UdpTransparentSocket}. */
export interface UdpTransparentSocketOptions {
  address: string;
  port: number;
  reusePort?: boolean;
  /** Datagrams drained per `recvmmsg()` call; default 64. */
  batchSize?: number;
  /** Largest datagram accepted; longer ones are truncated and dropped (counted). Default 65535. */
  maxDatagramSize?: number;
  /** `SO_RCVBUF` in bytes; 0 keeps the kernel default. */
  receiveBufferSize?: number;
  /** Most transparent reply sockets kept open (LRU); default 1024. */
  replyCacheSize?: number;
  /** A reply socket unused this long is closed; default 60000 ms. */
  replyIdleMs?: number;
  /** `SO_MARK` for reply sockets (local-host mode); default none. */
  mark?: number;
  /** `IPV6_V6ONLY` for IPv6 sockets; default true. With false, IPv4 datagrams arrive too (addresses un-mapped). */
  v6Only?: boolean;
  /**
   * Most `recvmmsg()` batches drained per readiness wakeup, so one busy socket
   * cannot starve the event loop; what is left is read on the next loop turn.
   * Default 16.
   */
  maxBatchesPerWakeup?: number;
  /** Most attached sessions at once; attaching past it closes the least recently active. Default 10000. */
  maxSessions?: number;
  /** An attached session with no datagram either way this long is closed; default 60000 ms. */
  sessionIdleMs?: number;
}

/** An attached session that ended, with what the native path relayed for it. */
export interface UdpSessionClosed {
  /** The id given to `attachSession()`. */
  id: number;
  /** Payload bytes sent upstream natively (datagrams queued at attach time not included). */
  up: number;
  /** Payload bytes of replies sent to the client. */
  down: number;
  /**
   * `idle timeout`, `session limit`, `replaced`, `closed` (detachSession), `shutdown` (close), or
   * `upstream: ECONNREFUSED (port unreachable)` (also `EHOSTUNREACH`, `ENETUNREACH`) when the
   * remote answered a datagram with that ICMP error: the session ends at once.
   */
  reason: string;
}

/** Counters of a {@link UdpTransparentSocket}. */
export interface UdpSocketStats {
  /** Datagrams delivered to `onBatch`. */
  received: number;
  /** Calls of `onBatch`. */
  batches: number;
  /** Replies handed to the kernel by `send()`. */
  sent: number;
  /** Replies dropped because the socket buffer was full (`EAGAIN`). */
  sendDropped: number;
  /** Datagrams dropped on receive (truncated, or no original destination). */
  receiveDropped: number;
  /** Reply sockets currently open (0 after `close()`). */
  replySockets: number;
  /** Attached sessions now (0 after `close()`). */
  sessions: number;
  /** Datagrams of attached sessions sent upstream without JavaScript. */
  forwarded: number;
  /** `sendmmsg()` calls that carried them (one per session per received batch). */
  forwardCalls: number;
  /** ... that the upstream socket refused (`EAGAIN`, `ENOBUFS`). */
  forwardDropped: number;
  /** Replies of attached sessions sent to their clients. */
  replied: number;
  /** ... that could not be sent (full buffer, no route) or were truncated. */
  replyDropped: number;
}

/**
 * A transparent UDP socket (TPROXY target): receives datagrams with their
 * original destination and answers *from* that destination. Reception runs on
 * a `uv_poll` in the calling thread's event loop (worker threads included);
 * `onBatch` is called once per drained batch. An exception thrown by `onBatch`
 * is reported like any uncaught exception (`process.on('uncaughtException')`,
 * or exit); the socket stays consistent and keeps receiving.
 *
 * An open socket keeps the event loop alive and is not garbage-collected; call
 * `close()`. A worker thread that exits closes its sockets.
 */
export interface UdpTransparentSocket {
  /** The receiving socket's fd; -1 after `close()`. */
  readonly fd: number;
  /**
   * Sends `data` to `to` with source address and port `from`, through a
   * transparent socket bound to `from` (cached, never connected). When `from`
   * is exactly this socket's own bound address, the reply goes out through this
   * socket instead (a second socket bound there would take its datagrams).
   * Returns false when the datagram was dropped because the kernel buffer is
   * full (`EAGAIN`/`ENOBUFS`); throws a {@link NativeError} when the reply
   * socket cannot be made (for example `EADDRINUSE`), on other send errors, on
   * bad arguments (`EINVAL`), and after `close()` (`EBADF`).
   */
  send(data: Buffer, fromAddress: string, fromPort: number, toAddress: string, toPort: number): boolean;
  /**
   * Hands a session to the native relay: from now on datagrams from
   * `client` to `dst` are sent on `upstreamFd` (a connected, non-blocking UDP
   * socket towards the session's destination) without reaching `onBatch`,
   * and what `upstreamFd` receives is sent to the client from `dst`, batched
   * with `sendmmsg()`. `queued` datagrams (held while the session was being
   * dialled) go first. The socket owns `upstreamFd` from the call on, also
   * when it throws. The session ends by idle timeout, by the size cap, by an
   * ICMP unreachable error from the remote, by {@link detachSession} or by
   * {@link close}; the first three are reported to `onSessionsClosed`. Returns the sessions this one pushed out (cap, or the
   * same client and destination attached again). Throws `EINVAL` on bad
   * arguments, `EBADF` after close, and the reply socket's error (for example
   * `EADDRINUSE`) when one cannot be bound to `dst`.
   */
  attachSession(
    id: number,
    clientAddress: string,
    clientPort: number,
    dstAddress: string,
    dstPort: number,
    upstreamFd: number,
    queued?: Buffer[],
  ): UdpSessionClosed[];
  /** Ends an attached session, closing its upstream socket; undefined when there is none with that id. */
  detachSession(id: number): UdpSessionClosed | undefined;
  /**
   * The least recently active attached session: its id and how long ago a
   * datagram last passed either way; undefined when none is attached (or
   * after `close()`). Lets the caller keep one session cap over several
   * sockets and close the least recently used session of them all.
   */
  oldestSession(): { id: number; idleMs: number } | undefined;
  /**
   * The payload bytes attached session `id` has relayed so far (up: client
   * to remote, down: back; the counts its {@link UdpSessionClosed} will
   * carry), written to `out[offset]` and `out[offset + 1]` without
   * allocating, so every live session can be read each second. Returns false,
   * writing nothing, when no session has that id (ended, or after `close()`).
   * Throws `EINVAL` on bad arguments.
   */
  readSessionBytes(id: number, out: Float64Array, offset?: number): boolean;
  /** Stops polling and closes the socket, every reply socket and every attached session, returned with their counts. Idempotent. */
  close(): UdpSessionClosed[];
  stats(): UdpSocketStats;
}

/** Constructor of {@link UdpTransparentSocket}. */
export interface UdpTransparentSocketConstructor {
  new (
    options: UdpTransparentSocketOptions,
    onBatch: (datagrams: UdpDatagram[]) => void,
    onSessionsClosed?: (sessions: UdpSessionClosed[]) => void,
  ): UdpTransparentSocket;
}

/** Options of {@link createSocket}. */
export interface OutboundSocketOptions {
  type: 'tcp' | 'udp';
  family: 4 | 6;
  /** `SO_MARK` (needs CAP_NET_ADMIN). */
  mark?: number;
  /** `SO_BINDTODEVICE` interface name (needs CAP_NET_RAW on older kernels). */
  device?: string;
  /** Bind to this address before connecting. */
  localAddress?: string;
  localPort?: number;
  /** `IP_TRANSPARENT` so `localAddress` may be foreign (the client's own address). */
  transparent?: boolean;
  /** `SO_REUSEADDR`, useful with a fixed `localPort`. */
  reuseAddr?: boolean;
  /**
   * UDP only: `connect()` to this address (with `connectPort`) before
   * returning, so the socket sends there without an address and receives only
   * that peer's datagrams. Errors (`ENETUNREACH`…) are thrown with the address.
   */
  connectAddress?: string;
  connectPort?: number;
}

/** Options of {@link SpliceRelay}. */
export interface SpliceRelayOptions {
  /** No byte either way for this long ends the flow with `error: 'idle timeout'`; 0 (default) disables. */
  idleMs?: number;
  /** Bytes already read from A (by JavaScript, before the hand-over): written to B before anything else. */
  pendingA?: Uint8Array;
  /** Bytes already read from B: written to A before anything else. */
  pendingB?: Uint8Array;
  /**
   * Take `fdA` and `fdB` themselves instead of copies: for fds no libuv handle
   * polls (natively accepted or dialled), which saves a dup, three checks and
   * a close per fd. They must be connected TCP sockets. On success the relay
   * owns and closes them; if the constructor throws, the caller still does.
   */
  adopt?: boolean;
  /**
   * Capacity in bytes that a direction's pipe grows to (`F_SETPIPE_SZ`,
   * rounded up to a power-of-two number of pages) once it has carried 1 MiB:
   * a larger pipe moves more per system call. Pipes start at the kernel's
   * default (64 KiB), so short flows use little of the per-user pipe quota
   * (`fs.pipe-user-pages-soft`, which applies without CAP_SYS_RESOURCE or
   * CAP_SYS_ADMIN). Where the kernel refuses (past that quota or
   * `fs.pipe-max-size`) the pipe keeps its size. Default: no growth.
   */
  pipeSize?: number;
  /**
   * Connect B here instead of taking it: the relay opens the upstream socket
   * with these options (as {@link TcpDialOptions}), starts a non-blocking
   * `connect()` and begins relaying once it completes, with no call back into
   * JavaScript in between. `fdB` must then be null and `adopt` set. Until
   * the connect completes the client is not read. A connect that fails (at
   * once or later) or outlasts `timeoutMs` ends the relay with both sockets
   * reset, reported in {@link SpliceRelayResult.connectError} or
   * {@link SpliceRelayResult.connectTimedOut}. Setup errors (bad options,
   * `EPERM` for a mark) throw from the constructor, owning nothing.
   */
  connect?: SpliceRelayConnect;
}

/** {@link SpliceRelayOptions.connect}: where and how to connect B. */
export interface SpliceRelayConnect extends TcpDialOptions {
  /** The connect gives up after this long (`connectTimedOut`); 0 or absent: no limit. */
  timeoutMs?: number;
}

/** How a {@link SpliceRelay} ended; passed to its `onDone` callback. */
export interface SpliceRelayResult {
  /** Bytes written to B that came from A (pending bytes included). */
  up: number;
  /** Bytes written to A that came from B (pending bytes included). */
  down: number;
  /**
   * Absent when both directions ended in order (EOF passed on both ways).
   * Otherwise `'idle timeout'`, `'aborted: <reason>'`, or `'<side>: <errno name>'`
   * with side `client` (A) or `upstream` (B), e.g. `'upstream: ECONNRESET'`.
   * Both sockets were then closed with a reset (`SO_LINGER` 0).
   */
  error?: string;
  /** With {@link SpliceRelayOptions.connect}: whether B's connect completed (the flow was relayed). */
  connected?: boolean;
  /** With {@link SpliceRelayOptions.connect}: the connect's error (`code` `ECONNREFUSED`…, `syscall` `connect`). */
  connectError?: NativeError;
  /** With {@link SpliceRelayOptions.connect}: the connect outlasted its `timeoutMs`. */
  connectTimedOut?: boolean;
  /**
   * True when `splice()` was refused for this flow (`EINVAL`/`ENOSYS`: an fd
   * type, kernel or sandbox without splice for these fds). The relay did not
   * fail for it: from the refusal on, that flow went through user space
   * (`recv()`/`send()`, bytes still in a pipe included), and `up`, `down` and
   * `error` mean what they always do. Other flows are not affected; count or
   * log it, but keep using the relay.
   */
  spliceRefused?: boolean;
  /**
   * @deprecated Never set any more: a refused `splice()` no longer fails the
   * flow (see {@link SpliceRelayResult.spliceRefused}). Kept so that callers
   * written for it compile; remove their check.
   */
  unsupported?: boolean;
}

/** Counters of a {@link SpliceRelay}. */
export interface SpliceRelayStats {
  /** Bytes delivered A to B so far. */
  up: number;
  /** Bytes delivered B to A so far. */
  down: number;
  /** Bytes read from A and not yet written to B (in the pipe or pending); bounded by the pipe's capacity plus the pending bytes. */
  bufferedUp: number;
  /** Bytes read from B and not yet written to A. */
  bufferedDown: number;
  /**
   * Capacity of the A-to-B pipe, as the kernel granted it (see
   * {@link SpliceRelayOptions.pipeSize}): of the pipe the direction holds now,
   * else of the one it last held (0 before it carried anything). A direction
   * borrows a pipe from its thread's pool only while bytes are in flight; see
   * {@link NativeBinding.splicePoolStats}.
   */
  pipeSizeUp: number;
  /** Capacity of the B-to-A pipe, as for {@link SpliceRelayStats.pipeSizeUp}. */
  pipeSizeDown: number;
  /** Pipes the relay holds now, 0 to 2: 0 when idle (it then holds only its two sockets). */
  pipes: number;
  /** False once the relay has ended (its fds are closed). */
  open: boolean;
}

/**
 * Counters of the pipe pool of the calling thread (each worker thread has its
 * own), shared by its {@link SpliceRelay}s. A relay direction borrows a pipe
 * when its socket turns readable and gives it back as soon as the pipe is
 * empty again, so an idle flow holds its two socket fds and no pipe, and
 * short exchanges reuse the same few pipes without `pipe2()`/`close()`. The
 * pool keeps at most `maxFree` empty pipes (at most 4 of them grown by
 * {@link SpliceRelayOptions.pipeSize}), closes those unused for 5 s, and
 * closes all of them when the thread's environment is torn down.
 * `opened`, `reused`, `closed` and `failed` count since the pool was made.
 */
export interface SplicePoolStats {
  /** Empty pipes waiting in the pool (2 fds each). */
  free: number;
  /** Of those, pipes grown past the default size. */
  freeGrown: number;
  /** Pipes lent to relays now (each holds bytes in flight, or is within one wakeup). */
  inUse: number;
  /** Pipes created (`pipe2()`). */
  opened: number;
  /** Loans served from the pool, without a system call. */
  reused: number;
  /** Pipes closed: over the cap, unused for 5 s, trimmed, or holding bytes when their flow failed. */
  closed: number;
  /**
   * `pipe2()` failures (`EMFILE`, `ENFILE`, `ENOMEM`). The flow is not failed:
   * that read goes through user space (`recv()`/`send()`), and the next one tries again.
   */
  failed: number;
  /** Most empty pipes the pool keeps. */
  maxFree: number;
}

/**
 * Relays one TCP flow between two connected sockets in the kernel: per
 * direction, `splice()` from the socket into a pipe and from the pipe into the
 * other socket, so the bytes never enter user space. Runs on `uv_poll` in the
 * event loop of the creating thread (worker threads included), with
 * backpressure (reads only while the pipe has room), half-close (an EOF is
 * passed on as `shutdown(SHUT_WR)` once everything before it is delivered;
 * the other direction keeps running), an idle timeout, and a reset of both
 * sides when either fails. A direction borrows its pipe from the thread's
 * pool only while bytes are in flight (see {@link SplicePoolStats}): an idle
 * relay holds its two socket fds and nothing else.
 */
export interface SpliceRelay {
  /**
   * Ends the flow now: both sockets are reset; `onDone` gets
   * `error: 'aborted: <reason>'`. Returns false (and does nothing) when the
   * relay had already ended, its `onDone` perhaps not yet called.
   */
  abort(reason?: string): boolean;
  stats(): SpliceRelayStats;
  /**
   * The bytes delivered so far, A to B and B to A (the `up` and `down` of
   * {@link stats}), written to `out[offset]` and `out[offset + 1]` without
   * allocating: cheap enough to poll every live flow each second. Counts
   * keep their last values after the relay ended.
   */
  readBytes(out: Float64Array, offset?: number): void;
}

/** Constructor of {@link SpliceRelay}. */
export interface SpliceRelayConstructor {
  /**
   * Starts relaying between `fdA` (the client side) and `fdB` (the upstream
   * side). The relay `dup()`s both fds and owns the copies: the caller then
   * closes its own fds (destroying a Node socket whose fd has a copy sends
   * neither FIN nor RST). Throws a {@link NativeError} (and owns nothing)
   * when an fd is not a connected TCP socket or a resource cannot be made.
   * `onDone` is called exactly once, from the event loop (never inside
   * `abort()`), after every fd is closed. The relay keeps itself and the event
   * loop alive until then; on environment teardown (a worker exiting) it
   * resets both sockets without calling `onDone`. With
   * {@link SpliceRelayOptions.connect}, `fdB` is null and the relay makes B.
   */
  new (fdA: number, fdB: number | null, options: SpliceRelayOptions, onDone: (result: SpliceRelayResult) => void): SpliceRelay;
}

/**
 * One wakeup's accepted connections, as {@link TcpAcceptor} hands them to
 * `onBatch`: no object per connection. Connection `i` is `fds[i]` with its
 * endpoints at `endpoints[4 * i]` to `endpoints[4 * i + 3]`, laid out as
 * {@link AcceptedEndpoints}. Read it with {@link forEachAccepted}.
 *
 * Who owns each fd: the callee takes fd `i` by setting `fds[i]` to -1
 * (`forEachAccepted` does this before it calls its visitor). When `onBatch`
 * returns, every fd is the callee's, taken or not. When `onBatch` throws (or
 * cannot run because the worker thread is being terminated), the acceptor
 * closes, with a reset, every fd not taken, so none is lost. Do not transfer
 * or detach `fds.buffer`.
 */
export interface AcceptedBatch {
  /** One fd per connection: non-blocking, CLOEXEC, `TCP_NODELAY`; -1 once taken. */
  readonly fds: Int32Array;
  /** Four entries per connection; see {@link AcceptedEndpoints}. */
  readonly endpoints: AcceptedEndpoints;
}

/**
 * The endpoints of an {@link AcceptedBatch}, {@link ACCEPTED_ENDPOINT_STRIDE}
 * entries per connection, in this order (source = the peer; destination =
 * `getsockname()`, the original destination under TPROXY; IPv4-mapped
 * addresses unmapped):
 * `[srcAddress: string, srcPort: number, dstAddress: string, dstPort: number, ...]`.
 */
export type AcceptedEndpoints = ReadonlyArray<string | number>;

/** Entries per connection in {@link AcceptedEndpoints}. */
export const ACCEPTED_ENDPOINT_STRIDE = 4;

/** What {@link forEachAccepted} passes for each connection. */
export type AcceptedVisitor = (fd: number, srcAddress: string, srcPort: number, dstAddress: string, dstPort: number) => void;

/**
 * Calls `visit` for each connection of `batch` not yet taken, in order,
 * taking its fd first (its slot becomes -1): from then on the fd is
 * `visit`'s to close or hand on, also if `visit` throws. An exception from
 * `visit` stops the loop and propagates; the connections not yet visited are
 * then closed by the acceptor (see {@link AcceptedBatch}). Allocates nothing.
 */
export function forEachAccepted(batch: AcceptedBatch, visit: AcceptedVisitor): void {
  const { fds, endpoints } = batch;
  for (let i = 0; i < fds.length; i++) {
    const fd = fds[i]!;
    if (fd < 0) continue;
    fds[i] = -1;
    const at = i * ACCEPTED_ENDPOINT_STRIDE;
    visit(fd, endpoints[at] as string, endpoints[at + 1] as number, endpoints[at + 2] as string, endpoints[at + 3] as number);
  }
}

/** A native accept loop; see {@link TcpAcceptorConstructor}. */
export interface TcpAcceptor {
  /** Stops accepting and closes the listening fd; false if already closed. Connections already reported are not touched. */
  close(): boolean;
}

/**
 * Native accept: `new TcpAcceptor(listenFd, onBatch)` takes ownership of a
 * listening TCP fd (from {@link NativeBinding.openTransparentListener}) and
 * accepts with an `accept4()` loop on the event loop. Each wakeup's
 * connections (up to 64) reach `onBatch` in one call as an
 * {@link AcceptedBatch}, which says who owns each fd. Hand an fd to a
 * `SpliceRelay`, adopt it with `new net.Socket({ fd })`, or close it
 * ({@link NativeBinding.resetFd}). An exception thrown by `onBatch` is
 * reported like any uncaught exception (`process.on('uncaughtException')`,
 * else exit). Out of fds (EMFILE), accepting pauses for 100 ms; the backlog
 * keeps the rest. A worker thread that exits closes its acceptors.
 */
export interface TcpAcceptorConstructor {
  new (listenFd: number, onBatch: (batch: AcceptedBatch) => void): TcpAcceptor;
}

/** Options of {@link TcpDialConstructor}. */
export interface TcpDialOptions {
  /** IP literal to connect to (IPv4 or IPv6; the socket's family follows it). */
  address: string;
  port: number;
  /** `SO_MARK` (needs CAP_NET_ADMIN). */
  mark?: number;
  /** `SO_BINDTODEVICE` interface name. */
  device?: string;
  /** Bind to this address (port 0) before connecting; must be of the family of `address`. */
  localAddress?: string;
  /** `IP_TRANSPARENT` so `localAddress` may be foreign. */
  transparent?: boolean;
}

/** A connect in progress; see {@link TcpDialConstructor}. */
export interface TcpDial {
  /** Closes the socket if still connecting and suppresses the callback; false once it has completed. */
  cancel(): boolean;
}

/**
 * Native TCP connect: `new TcpDial(options, callback)` opens a non-blocking
 * socket with `options` applied (`TCP_NODELAY` always), starts `connect()`
 * and watches it on the event loop. `callback(null, fd)` hands over the
 * connected fd (the caller owns it: give it to a `SpliceRelay` and close it,
 * adopt it with `new net.Socket({ fd })`, or `closeFd` it);
 * `callback(err)` reports the connect error as a {@link NativeError}
 * (`code` `ECONNREFUSED`, `ENETUNREACH`…, `syscall` `connect`). Setup
 * errors (bad options, EPERM for a mark) throw synchronously. There is no
 * timeout: call `cancel()`.
 */
export interface TcpDialConstructor {
  new (options: TcpDialOptions, callback: (err: NativeError | null, fd?: number) => void): TcpDial;
}

/** The functions the addon exports. */
export interface NativeBinding {
  /** Opens a bound, listening, non-blocking TCP socket with `IP_TRANSPARENT`/`IPV6_TRANSPARENT`; returns its fd for `net.Server.listen({ fd })`. */
  openTransparentListener(options: TransparentListenerOptions): number;
  /**
   * Creates a non-blocking socket with the given options applied (bound when
   * `localAddress`/`localPort` is set, otherwise unbound) and returns its fd.
   * TCP: wrap with `new net.Socket({ fd })` and call `.connect()` in the same tick.
   * UDP: hand to `dgram.Socket.bind({ fd })`, which emits `'listening'`
   * synchronously, inside `bind()`: attach the listener first.
   */
  createSocket(options: OutboundSocketOptions): number;
  /** `SO_ORIGINAL_DST` / `IP6T_SO_ORIGINAL_DST` of an accepted socket (nat REDIRECT setups). */
  originalDestination(fd: number): SocketAddress;
  /** `getsockname()` of an fd. */
  localAddress(fd: number): SocketAddress;
  /** Closes an fd this module returned and nobody adopted. */
  closeFd(fd: number): void;
  /**
   * Raises the soft `RLIMIT_NOFILE` to the hard limit (no privilege needed)
   * and returns both. Each proxied TCP flow costs at least two fds.
   */
  raiseFileLimit(): { soft: number; hard: number };
  UdpTransparentSocket: UdpTransparentSocketConstructor;
  /** In-kernel TCP relay; see {@link SpliceRelayConstructor}. */
  SpliceRelay: SpliceRelayConstructor;
  /** Whether `splice()` works here (probed once per process on a socketpair). */
  spliceSupported(): boolean;
  /** Counters of this thread's {@link SpliceRelay} pipe pool (all zero before its first relay). */
  splicePoolStats(): SplicePoolStats;
  /**
   * Closes the free pipes of this thread's pool now (they are closed after
   * 5 s unused anyway); returns how many. Pipes lent to relays are not
   * touched. For tests that count fds, and to shed fds at once.
   */
  splicePoolTrim(): number;
  /** Native TCP connect handing back a connected fd; see {@link TcpDialConstructor}. */
  TcpDial: TcpDialConstructor;
  /** Native accept loop reporting batches of accepted fds; see {@link TcpAcceptorConstructor}. */
  TcpAcceptor: TcpAcceptorConstructor;
  /** Closes a TCP socket fd with a reset (`SO_LINGER` {1, 0}), as `socket.resetAndDestroy()` does. */
  resetFd(fd: number): void;
  /**
   * Makes `fd` refer to `/dev/null` (opened read-write) in one step
   * (`dup2()`), whatever it referred to before; no other thread can be handed
   * that fd number in between. Throws a {@link NativeError} (`syscall`
   * `open` or `dup2`) when it cannot. For stdio whose terminal has gone away.
   */
  reopenDevNull(fd: number): void;
}

/**
 * What the addon must export, by name and `typeof`: everything of
 * {@link NativeBinding}: all of it comes from C++.
 */
export const EXPECTED_EXPORTS: Readonly<Record<string, 'function'>> = {
  openTransparentListener: 'function',
  createSocket: 'function',
  originalDestination: 'function',
  localAddress: 'function',
  closeFd: 'function',
  resetFd: 'function',
  reopenDevNull: 'function',
  raiseFileLimit: 'function',
  UdpTransparentSocket: 'function',
  SpliceRelay: 'function',
  spliceSupported: 'function',
  splicePoolStats: 'function',
  splicePoolTrim: 'function',
  TcpDial: 'function',
  TcpAcceptor: 'function',
};

/** The names of {@link EXPECTED_EXPORTS} that `binding` lacks (or has with another type), in that order. */
export function missingExports(binding: unknown): string[] {
  const object = (typeof binding === 'object' || typeof binding === 'function') && binding !== null ? (binding as Record<string, unknown>) : {};
  return Object.entries(EXPECTED_EXPORTS)
    .filter(([name, type]) => typeof object[name] !== type)
    .map(([name]) => name);
}

/**
 * Checks a loaded addon against {@link EXPECTED_EXPORTS} and returns it
 * typed. A build older (or newer) than this file fails here, at start, with
 * the names it lacks, rather than with "not a constructor" on the first flow.
 */
export function checkBinding(binding: unknown): NativeBinding {
  const missing = missingExports(binding);
  if (missing.length > 0) {
    throw new Error(`the @sluice/native build is stale: it lacks ${missing.join(', ')}; rebuild it with \`npm rebuild @sluice/native\``);
  }
  return binding as NativeBinding;
}

let cached: NativeBinding | undefined;

/**
 * Loads the addon once and checks it (see {@link checkBinding}). Throws with
 * a clear message off Linux, when the build is missing, or when it is stale.
 */
export function native(): NativeBinding {
  if (cached === undefined) {
    cached = checkBinding(loadBinding());
  }
  return cached;
}
