import type { DetectedProtocol, SniffedProtocol } from '../adapter/flow';

/**
 * What a sniffer knows after the bytes it has seen so far:
 * - `found`: the protocol and the host name it carries;
 * - `protocol`: a protocol recognised that names no host (DNS queries), for `protocol` rule conditions;
 * - `none`: the bytes are not a sniffable protocol, or are one that names no host
 *   (route on the IP now, no waiting);
 * - `more`: a message has started but is incomplete (wait for more bytes, up to the timeout).
 */
export type SniffOutcome =
  | { readonly kind: 'found'; readonly protocol: SniffedProtocol; readonly host: string }
  | { readonly kind: 'protocol'; readonly protocol: DetectedProtocol }
  | { readonly kind: 'none' }
  | { readonly kind: 'more' };
