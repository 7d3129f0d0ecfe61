import type { FlowMetadata, Network } from '../../adapter/flow';
import { describeList, type Matcher } from '../matcher';

/** Matches the flow's transport (`network: tcp`). */
export class NetworkMatcher implements Matcher {
  private readonly tcp: boolean;
  private readonly udp: boolean;

  constructor(private readonly networks: readonly Network[]) {
    this.tcp = networks.includes('tcp');
    this.udp = networks.includes('udp');
  }

  /** Whether `flow` matches. */
  match(flow: FlowMetadata): boolean {
    return flow.network === 'tcp' ? this.tcp : this.udp;
  }

  toString(): string {
    return describeList('network', this.networks);
  }
}
