import type { FlowContext, Destination, FlowMetadata } from './flow';
import type { Outbound } from './outbound';

/**
 * Optional capability of an outbound whose TCP stream would be a plain TCP
 * socket carrying the flow's bytes unchanged (`direct`): it can hand over the
 * connected, non-blocking fd itself, so the relay moves the bytes in the
 * kernel without a `net.Socket`. Same semantics as {@link Outbound.dialTcp}
 * (errors, `ctx.signal` aborts the connect); the caller owns the fd.
 *
 * Plugin authors never need this: the relay falls back to the stream from
 * `dialTcp`, and even then relays two plain sockets in the kernel.
 */
export interface TcpFdDialer {
  /** Connects to `dst` and resolves with the connected socket's fd, which the caller then owns. */
  dialTcpFd(dst: Destination, ctx: FlowContext): Promise<number>;
}

/**
 * Where and how to open a flow's upstream TCP socket, as {@link
 * TcpConnectPlanner.planTcpConnect} describes it: an IP literal and port, and
 * the socket options the outbound asks for. Core hands it to the native
 * splice relay, which connects and relays in one step.
 */
export interface TcpConnectPlan {
  /** IP literal to connect to (the socket's family follows it). */
  readonly address: string;
  readonly port: number;
  /** `SO_MARK`. */
  readonly mark?: number;
  /** `SO_BINDTODEVICE` interface name. */
  readonly device?: string;
  /** Local address to bind (port 0) before connecting; of the family of `address`. */
  readonly localAddress?: string;
  /** `IP_TRANSPARENT`, so `localAddress` may be foreign. */
  readonly transparent?: boolean;
  /**
   * The outbound's own connect timeout (`direct`'s `connect_timeout_ms`),
   * when it has one: the connect gives up after the smaller of `ms` and
   * core's `timeouts.connect_ms`, and when `ms` is the smaller the flow fails
   * with `error()`, as {@link TcpFdDialer.dialTcpFd} would have.
   */
  readonly timeout?: TcpConnectTimeout;
  /**
   * The error the flow reports when this connect fails with `err` (an errno
   * error, `syscall` `connect`): what {@link TcpFdDialer.dialTcpFd} would
   * have rejected with, so the access log reads the same either way.
   */
  dialError(err: NodeJS.ErrnoException): unknown;
}

/** An outbound's own connect timeout, carried by a {@link TcpConnectPlan}. */
export interface TcpConnectTimeout {
  /** Milliseconds from the start of the connect. */
  readonly ms: number;
  /** The error the flow reports when this timeout (not core's) ran out. */
  error(): unknown;
}

/**
 * Optional capability of a {@link TcpFdDialer} whose connect needs nothing
 * but a socket, its options and `connect()` (`direct`): it describes that
 * connect instead of making it, and the relay then connects and starts
 * relaying in one native step, with no JavaScript between the connect and
 * the relay (issue #14, connection rate). Same semantics as `dialTcpFd`.
 */
export interface TcpConnectPlanner {
  /**
   * The connect to make for `dst`, or undefined when it cannot be described
   * without waiting (a name to resolve first) or needs an option the plan
   * cannot carry: the flow then dials with `dialTcpFd`. Synchronous, no side
   * effects; may throw as `dialTcpFd` would reject. Gets the flow, not a
   * {@link FlowContext}: a planned flow never has one (no signal, no logger
   * to make), which is part of what makes it cheap.
   */
  planTcpConnect(dst: Destination, flow: FlowMetadata): TcpConnectPlan | undefined;
}

/**
 * Optional capability of an outbound whose UDP channel would be a plain UDP
 * socket connected to `ctx.flow.dst`, carrying datagrams unchanged (`direct`):
 * it hands over that socket's fd, and the inbound's session relay moves the
 * session's datagrams without JavaScript. The caller owns the fd.
 */
export interface UdpFdDialer {
  /** Opens a UDP socket connected to `ctx.flow.dst` and resolves with its fd, which the caller then owns. */
  dialUdpFd(ctx: FlowContext): Promise<number>;
}

/** True when `o` offers {@link TcpFdDialer}. */
export function isTcpFdDialer(o: Outbound): o is Outbound & TcpFdDialer {
  return typeof (o as Partial<TcpFdDialer>).dialTcpFd === 'function';
}

/** True when `o` offers {@link TcpConnectPlanner}. */
export function isTcpConnectPlanner(o: Outbound): o is Outbound & TcpConnectPlanner {
  return typeof (o as Partial<TcpConnectPlanner>).planTcpConnect === 'function';
}

/** True when `o` offers {@link UdpFdDialer}. */
export function isUdpFdDialer(o: Outbound): o is Outbound & UdpFdDialer {
  return typeof (o as Partial<UdpFdDialer>).dialUdpFd === 'function';
}
