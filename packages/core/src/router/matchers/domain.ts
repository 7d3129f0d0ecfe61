import type { FlowMetadata } from '../../adapter/flow';
import type { ConditionConfig } from '../../config/types';
import { HostSet } from '../host-set';
import { describeList, type Matcher } from '../matcher';

const FIELDS = ['domain', 'domain_suffix', 'domain_keyword', 'domain_regex'] as const;

/**
 * Matches the flow's host name (`dst.host`, from a sniffer or a hook) against
 * `domain`, `domain_suffix`, `domain_keyword` and `domain_regex` together: any
 * of them matching is enough. A flow without a host never matches.
 */
export class DomainMatcher implements Matcher {
  private readonly set: HostSet;

  constructor(private readonly patterns: Pick<ConditionConfig, 'domain' | 'domain_suffix' | 'domain_keyword' | 'domain_regex'>) {
    this.set = new HostSet(patterns);
  }

  /** Whether the condition has any domain field. */
  static appliesTo(c: ConditionConfig): boolean {
    return FIELDS.some((f) => c[f] !== undefined);
  }

  /** Whether `flow` matches. */
  match(flow: FlowMetadata): boolean {
    const host = flow.dst.host;
    return host !== undefined && host !== '' && this.set.has(host);
  }

  toString(): string {
    const parts = FIELDS.filter((f) => this.patterns[f]).map((f) => describeList(f, this.patterns[f]!));
    return parts.length === 1 ? parts[0] : `(${parts.join(' || ')})`;
  }
}
