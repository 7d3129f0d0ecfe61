import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Destination, Endpoint, FlowContext, Network } from './flow';
import type { ServiceToken } from './service';

/** Receives what arrives on a {@link PacketChannel}. */
export interface PacketReceiver {
  /** A datagram arrived from `from` (the real remote, which replies are sent back as). */
  onPacket(data: Buffer, from: Endpoint): void;
  /** The channel closed by itself (upstream gone, control connection dropped); `err` says why. */
  onClose(err?: Error): void;
}

/** A datagram path opened by an outbound for one UDP session. */
export interface PacketChannel {
  /** Sends one datagram towards `dst`. Never throws for a single lost datagram. */
  send(data: Buffer, dst: Destination): void;
  /** Sets where replies go; set once, right after the channel is opened. */
  setReceiver(receiver: PacketReceiver): void;
  /** Releases everything the channel holds. Idempotent. */
  close(): void;
}

/**
 * An outbound: a named way out. Implementations come from plugins; the
 * contract is deliberately small, and chains are built by composition: an
 * outbound that needs a transport asks another outbound (its `via`) to dial.
 * Fast paths are separate capabilities (`adapter/capabilities.ts`).
 */
export interface Outbound {
  /** The type name it was registered under (`direct`, `socks`, `block`…). */
  readonly type: string;
  /** The config tag, unique per config. */
  readonly tag: string;
  /** Which networks {@link Outbound.dialTcp} / {@link Outbound.dialUdp} support. */
  readonly networks: readonly Network[];
  /** Opens a byte stream to `dst`. Rejects with a {@link SluiceError} whose message is the access log's `error`. */
  dialTcp(dst: Destination, ctx: FlowContext): Promise<Duplex>;
  /** Opens a datagram channel for one UDP session. Absent when `networks` lacks `udp`. */
  dialUdp?(ctx: FlowContext): Promise<PacketChannel>;
  /** Called once before the first flow. */
  start?(): Promise<void>;
  /** Called once at shutdown, after the inbounds closed. */
  close(): Promise<void>;
}

/** What an outbound's `create` gets besides its own options. */
export interface OutboundDeps {
  /** The outbound's config tag. */
  readonly tag: string;
  /** `outbound/<type>[<tag>]` child of the root logger. */
  readonly logger: Logger;
  /** Returns an already-created outbound by tag (only tags listed by the definition's `dependencies()`). */
  resolve(tag: string): Outbound;
  /**
   * A service core registered under `token` (`LOGGER_FACTORY`, `ROUTER`… from `@sluice/core`), for
   * advanced plugins. Throws a `SLUICE_ERR_PLUGIN` error naming the token when
   * this Sluice provides no such service.
   */
  service<T>(token: ServiceToken<T>): T;
}
