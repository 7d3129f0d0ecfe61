import type { FlowMetadata } from '../../adapter/flow';
import type { RuleSetRef } from '../rule-set/rule-set-ref';
import { describeList, type Matcher } from '../matcher';

/**
 * Matches when any of the named rule sets does (`rule_set: [ads, cn]`). It
 * holds the sets' references, not their contents, so a file reloaded while
 * running applies to the next flow without recompiling the rules.
 */
export class RuleSetMatcher implements Matcher {
  constructor(private readonly refs: readonly RuleSetRef[]) {}

  /** Whether `flow` matches. */
  match(flow: FlowMetadata): boolean {
    for (const r of this.refs) if (r.current.match(flow)) return true;
    return false;
  }

  toString(): string {
    return describeList(
      'rule_set',
      this.refs.map((r) => r.tag),
    );
  }
}
