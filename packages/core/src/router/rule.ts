import type { FlowMetadata } from '../adapter/flow';
import type { RouteDecision } from '../adapter/router';
import type { RuleConfig } from '../config/types';
import { clashFormOfRule } from './clash-form';
import { compileCondition } from './condition';
import type { Matcher } from './matcher';
import type { RuleSetLookup } from './rule-set/rule-set-ref';

/** A compiled rule: all matchers must match (AND); the first matching rule decides. */
export class Rule {
  /** Returned for every flow this rule matches, so routing allocates nothing. */
  readonly decision: RouteDecision;

  constructor(
    readonly name: string,
    readonly matchers: readonly Matcher[],
    readonly outbound: string,
    /** Clash's rule type (`DOMAIN-SUFFIX`, `AND`, `MATCH`…), for `GET /rules`. */
    readonly type = 'MATCH',
    /** Clash's payload (`example.com`, `((DOMAIN,a.com),(NETWORK,UDP))`), for `GET /rules`. */
    readonly payload = '',
    /** The Clash line the rule was written as, if it was. */
    readonly clash?: string,
  ) {
    this.decision = Object.freeze({ rule: name, outbound });
  }

  /** Whether every matcher of the rule matches `flow` (a rule without matchers, `MATCH`, matches every flow). */
  match(flow: FlowMetadata): boolean {
    for (const m of this.matchers) if (!m.match(flow)) return false;
    return true;
  }

  /** This rule's decision when it matches `flow`, else undefined. */
  decide(flow: FlowMetadata): RouteDecision | undefined {
    for (const m of this.matchers) if (!m.match(flow)) return undefined;
    return this.decision;
  }

  /** `name: network=udp && dst_port=53 -> direct`; a Clash line shows as written: `name: DOMAIN,a.com -> proxy`. */
  toString(): string {
    const what = this.clash !== undefined ? (this.payload === '' ? this.type : `${this.type},${this.payload}`) : this.matchers.map(String).join(' && ');
    return `${this.name}: ${what} -> ${this.outbound}`;
  }
}

/**
 * Compiles one validated rule; `ruleSets` resolves its `rule_set` tags.
 *
 * @throws {TypeError|RangeError} on CIDRs, ports or rule-set tags that validation would have refused.
 */
export function compileRule(rule: RuleConfig, ruleSets?: RuleSetLookup): Rule {
  const { type, payload } = clashFormOfRule(rule);
  return new Rule(rule.name, compileCondition(rule, ruleSets), rule.outbound, type, payload, rule.clash);
}
