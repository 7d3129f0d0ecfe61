import type { CompiledRuleSet } from './compiled-rule-set';

/**
 * A rule set by tag, with its current contents. Rules hold the reference and
 * read `current` per flow; a file reload replaces `current`, so the next flow
 * sees the new contents and flows already routed keep their decision.
 */
export interface RuleSetRef {
  readonly tag: string;
  readonly current: CompiledRuleSet;
}

/** Finds rule sets by tag; what rules compile against. */
export interface RuleSetLookup {
  /** The rule set named `tag`, or undefined. */
  get(tag: string): RuleSetRef | undefined;
}
