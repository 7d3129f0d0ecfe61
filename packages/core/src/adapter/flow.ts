import type { Logger } from 'pino';

/** Transport of a flow. */
export type Network = 'tcp' | 'udp';

/** An IP literal and a port. IPv4-mapped IPv6 addresses are always un-mapped before they reach an Endpoint. */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/**
 * Where a flow wants to go: the original destination learnt from the kernel,
 * plus the host name when something (a sniffer, an embedder's hook) found one,
 * so that an outbound such as SOCKS5 can send the name instead of the IP.
 */
export interface Destination extends Endpoint {
  readonly host?: string;
}

/** What is known about a flow when it is routed and dialled. */
export interface FlowMetadata {
  /** Unique per process; every log line of the flow carries it as `flowId`. */
  readonly id: string;
  readonly network: Network;
  /** Tag of the inbound that accepted the flow. */
  readonly inbound: string;
  readonly src: Endpoint;
  readonly dst: Destination;
  /** Which sniffer found `dst.host`, when one did. */
  readonly sniffed?: SniffedProtocol;
  /** Where `dst.host` came from: a sniffer, or the DNS resolver's answers (see {@link HostSource}). */
  readonly hostSource?: HostSource;
  /** A protocol its first bytes were recognised as that names no host (a DNS query), on an inbound with `sniff: true`. */
  readonly protocol?: DetectedProtocol;
  /**
   * The address the client sent to, when it is not `dst.address`: the DNS
   * resolver (`dns.mode: fake-ip`) replaced a fake IP by a real address of
   * `dst.host`. Set only then. The client must never see the real address:
   * replies reach it from this one, whatever address answered, so an
   * outbound may dial `dst.host` (SOCKS5 sends the name, for TCP and UDP)
   * and let its far side pick the address.
   */
  readonly addressedTo?: Endpoint;
}

/** Where a flow's host name came from: its first bytes (`sniff`) or the DNS answer its address came from (`dns`). */
export type HostSource = 'sniff' | 'dns';

/** The protocols whose first bytes name the destination. */
export type SniffedProtocol = 'tls' | 'http' | 'quic';

/** Protocols a sniffer recognises without a host name in them: the `protocol` of {@link FlowMetadata}. */
export type DetectedProtocol = 'dns';

/** Handed to an outbound with each dial. */
export interface FlowContext {
  readonly flow: FlowMetadata;
  /** Child logger bound to the flow (`flowId`, `src`, `dst`, `network`). */
  readonly logger: Logger;
  /** Aborted when the flow is torn down before the dial finishes (client gone, shutdown). */
  readonly signal: AbortSignal;
  /**
   * An outbound group records which member it dialled for this flow; the
   * access log's `chain` is built from these. A later call by the same group
   * (it retried another member) replaces its earlier choice. Optional: a
   * context made by a plugin's own tests may lack it.
   */
  readonly recordChoice?: (group: string, member: string) => void;
}

/** What both flow events say of a flow. */
interface FlowEventFields {
  readonly network: Network;
  /** `address:port`, IPv6 in brackets. */
  readonly src: string;
  readonly dst: string;
  /** The destination's host name, when one is known. */
  readonly host?: string;
  /** Which sniffer found `host`, when one did. */
  readonly sniffed?: SniffedProtocol;
  /** Where `host` came from, when it is known. */
  readonly host_source?: HostSource;
  readonly inbound: string;
  /** `rules[i]` (or the rule's name), `final`, `hook`, `loop`. */
  readonly rule: string;
  readonly outbound: string;
  /** The group path to the outbound that carried the flow (`group > member`), when a group chose it. */
  readonly chain?: string;
}

/** A flow the router has just sent somewhere: the payload of the `flow` event. */
export interface FlowRoutedEvent extends FlowEventFields {
  readonly id: string;
}

/** A finished flow: the payload of the `flow:closed` event, exactly the access-log line's fields. */
export interface FlowClosedEvent extends FlowEventFields {
  readonly flowId: string;
  /** Bytes from the client towards the remote, and back. */
  readonly up: number;
  readonly down: number;
  readonly durationMs: number;
  /** Why it ended, when it did not end cleanly. */
  readonly error?: string;
  /** A protocol the flow's first bytes were recognised as that names no host (`dns`): {@link FlowMetadata.protocol}. */
  readonly protocol?: DetectedProtocol;
}
