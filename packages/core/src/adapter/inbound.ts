import type { Socket } from 'node:net';
import type { Endpoint } from './flow';

/** A session the inbound's {@link UdpSessionRelay} ended or gave back, with the bytes it relayed. */
export interface UdpSessionEnd {
  readonly id: number;
  /** Bytes of the datagrams it sent upstream / back to the client. */
  readonly up: number;
  readonly down: number;
  /** `idle timeout`, `evicted`, `closed`, or an errno text. */
  readonly reason: string;
}

/**
 * What a UDP inbound may offer: it relays a session's datagrams itself, given
 * an upstream UDP socket connected to the session's destination (from an
 * outbound's `dialUdpFd`). Sessions it ends by itself (idle, cap, inbound
 * closed) are reported through {@link FlowSink.onSessionsEnded}.
 */
export interface UdpSessionRelay {
  /**
   * Takes `fd` (also when it throws) and the datagrams queued while dialling;
   * from now on the relay owns the session. Returns the sessions it pushed
   * out to make room.
   */
  attach(id: number, src: Endpoint, dst: Endpoint, fd: number, queued: readonly Buffer[]): readonly UdpSessionEnd[];
  /** Ends an attached session and returns its counts; undefined when the relay no longer has it. */
  detach(id: number): UdpSessionEnd | undefined;
  /** Closes an fd that will not be attached after all. */
  discard(fd: number): void;
  /**
   * The least recently active attached session (its id and how long it has
   * been idle), so the flow side can keep one session cap over every inbound
   * and close the least recently used session overall. Optional: without
   * it, the flow side closes this relay's earliest attached session instead.
   */
  oldest?(): { readonly id: number; readonly idleMs: number } | undefined;
  /**
   * The bytes attached session `id` has relayed so far (what its end will
   * report), so the control API's counts move during a long session;
   * undefined when the relay no longer has it. Optional: without it, the
   * session's bytes are known only at its end.
   */
  bytes?(id: number): { readonly up: number; readonly down: number } | undefined;
}

/**
 * The datagram side of an inbound, handed with each datagram: replies are
 * sent through it (from any address: the flow's original destination), and
 * it may offer a native {@link UdpSessionRelay}.
 */
export interface DatagramPort {
  /** Tag of the inbound. */
  readonly inbound: string;
  /** Sends `data` to `to` with source address `from`; false when it could not be sent. Never throws. */
  sendReply(data: Buffer, from: Endpoint, to: Endpoint): boolean;
  /** Present when the inbound can relay whole sessions itself. */
  readonly sessionRelay?: UdpSessionRelay;
}

/** A TCP connection an inbound accepted: a bare fd (accepted natively) or a paused `net.Socket`. */
export type AcceptedConnection = number | Socket;

/**
 * Where an inbound sends what it accepts. Core implements it; an inbound
 * calls it and knows nothing else of the flow machinery.
 */
export interface FlowSink {
  /**
   * A TCP connection from `src` whose original destination is `dst`. The sink
   * owns `conn` from here on (closes or resets it on every path).
   */
  accept(conn: AcceptedConnection, src: Endpoint, dst: Endpoint, inbound: string): void;
  /** Whether {@link accept} can take bare fds; when false, the inbound hands over sockets. */
  readonly acceptsFds: boolean;
  /** One datagram from `src` whose original destination was `dst`, received on `port`. */
  onDatagram(data: Buffer, src: Endpoint, dst: Endpoint, port: DatagramPort): void;
  /** Sessions the inbound's {@link UdpSessionRelay} ended by itself. */
  onSessionsEnded(ends: readonly UdpSessionEnd[]): void;
  /** Idle timeout and cap the inbound's session relay should apply; undefined: offer no relay. */
  readonly sessionRelayLimits: { readonly idleMs: number; readonly maxSessions: number } | undefined;
}

/**
 * An inbound. On stop, Sluice first calls {@link stopAccepting} (no new flows;
 * UDP replies still flow), drains, then {@link close}s it.
 */
export interface Inbound {
  readonly tag: string;
  /** Starts listening; resolves once flows can arrive. */
  start(): Promise<void>;
  /** Stops taking new connections; what it already carries (UDP sessions) continues until {@link close}. */
  stopAccepting?(): Promise<void>;
  /** Closes everything; TCP flows already accepted are the flow sink's. Idempotent. */
  close(): Promise<void>;
}
