import type { FlowMetadata } from '../adapter/flow';
import type { RouteDecision } from '../adapter/router';
import type { RuleConfig } from '../config/types';
import type { Matcher } from './matcher';
import { DstCidrMatcher } from './matchers/dst-cidr';
import { DstPortMatcher } from './matchers/dst-port';
import { InboundMatcher } from './matchers/inbound';
import { NetworkMatcher } from './matchers/network';
import { SrcCidrMatcher } from './matchers/src-cidr';
import { SrcPortMatcher } from './matchers/src-port';

/** A compiled rule: all matchers must match (AND); the first matching rule decides. */
export class Rule {
  /** Returned for every flow this rule matches, so routing allocates nothing. */
  readonly decision: RouteDecision;

  constructor(
    readonly name: string,
    readonly matchers: readonly Matcher[],
    readonly outbound: string,
  ) {
    this.decision = Object.freeze({ rule: name, outbound });
  }

  /** Whether every matcher of the rule matches `flow`. */
  match(flow: FlowMetadata): boolean {
    for (const m of this.matchers) if (!m.match(flow)) return false;
    return true;
  }

  /** `name: network=udp && dst_port=53 -> direct`. */
  toString(): string {
    return `${this.name}: ${this.matchers.map(String).join(' && ')} -> ${this.outbound}`;
  }
}

/**
 * Compiles one validated rule. Cheap matchers go first so most flows are
 * rejected before a CIDR lookup.
 *
 * @throws {TypeError|RangeError} on CIDRs or ports that validation would have refused.
 */
export function compileRule(rule: RuleConfig): Rule {
  const matchers: Matcher[] = [];
  if (rule.network) matchers.push(new NetworkMatcher(rule.network));
  if (rule.inbound) matchers.push(new InboundMatcher(rule.inbound));
  if (rule.dst_port) matchers.push(new DstPortMatcher(rule.dst_port));
  if (rule.src_port) matchers.push(new SrcPortMatcher(rule.src_port));
  if (rule.dst_cidr) matchers.push(new DstCidrMatcher(rule.dst_cidr));
  if (rule.src_cidr) matchers.push(new SrcCidrMatcher(rule.src_cidr));
  return new Rule(rule.name, matchers, rule.outbound);
}
