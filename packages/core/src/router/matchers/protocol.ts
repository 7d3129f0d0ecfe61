import type { FlowMetadata } from '../../adapter/flow';
import type { RuleProtocol } from '../../config/types';
import { describeList, type Matcher } from '../matcher';

/** The port DNS is found on without sniffing. */
const DNS_PORT = 53;

/**
 * Matches the flow's application protocol (`protocol: dns`). `dns`: a flow
 * to port 53, or one whose first bytes are a DNS query (sniffed, on an
 * inbound with `sniff: true`). `tls`, `http`, `quic`: the sniffer that found
 * the flow's name.
 */
export class ProtocolMatcher implements Matcher {
  private readonly dns: boolean;
  private readonly sniffed: ReadonlySet<string>;

  constructor(private readonly protocols: readonly RuleProtocol[]) {
    this.dns = protocols.includes('dns');
    this.sniffed = new Set(protocols.filter((p) => p !== 'dns'));
  }

  /** Whether `flow` matches. */
  match(flow: FlowMetadata): boolean {
    if (this.dns && (flow.protocol === 'dns' || flow.dst.port === DNS_PORT)) return true;
    return flow.sniffed !== undefined && this.sniffed.has(flow.sniffed);
  }

  toString(): string {
    return describeList('protocol', this.protocols);
  }
}
