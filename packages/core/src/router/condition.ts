import type { ConditionConfig } from '../config/types';
import type { Matcher } from './matcher';
import { DomainMatcher } from './matchers/domain';
import { DstCidrMatcher } from './matchers/dst-cidr';
import { DstPortMatcher } from './matchers/dst-port';
import { InboundMatcher } from './matchers/inbound';
import { AllMatcher, AnyMatcher, NotMatcher } from './matchers/logical';
import { NetworkMatcher } from './matchers/network';
import { ProtocolMatcher } from './matchers/protocol';
import { RuleSetMatcher } from './matchers/rule-set';
import { SrcCidrMatcher } from './matchers/src-cidr';
import { SrcPortMatcher } from './matchers/src-port';
import type { RuleSetLookup, RuleSetRef } from './rule-set/rule-set-ref';

/**
 * Compiles a condition into the matchers that must all match. Cheap
 * matchers go first so most flows are rejected before a CIDR or trie lookup.
 * Without `ruleSets`, a `rule_set` condition is refused (rule-set files
 * cannot refer to other rule sets).
 *
 * @throws {TypeError|RangeError} on a CIDR or port validation would have refused, or an unknown rule set.
 */
export function compileCondition(c: ConditionConfig, ruleSets?: RuleSetLookup): Matcher[] {
  const matchers: Matcher[] = [];
  if (c.network) matchers.push(new NetworkMatcher(c.network));
  if (c.inbound) matchers.push(new InboundMatcher(c.inbound));
  if (c.protocol) matchers.push(new ProtocolMatcher(c.protocol));
  if (c.dst_port) matchers.push(new DstPortMatcher(c.dst_port));
  if (c.src_port) matchers.push(new SrcPortMatcher(c.src_port));
  if (DomainMatcher.appliesTo(c)) matchers.push(new DomainMatcher(c));
  if (c.dst_cidr) matchers.push(new DstCidrMatcher(c.dst_cidr));
  if (c.src_cidr) matchers.push(new SrcCidrMatcher(c.src_cidr));
  if (c.rule_set) matchers.push(new RuleSetMatcher(c.rule_set.map((tag) => findRuleSet(tag, ruleSets))));
  if (c.all) matchers.push(new AllMatcher(c.all.map((x) => joined(x, ruleSets))));
  if (c.any) matchers.push(new AnyMatcher(c.any.map((x) => joined(x, ruleSets))));
  if (c.not) matchers.push(new NotMatcher(joined(c.not, ruleSets)));
  return matchers;
}

/** One matcher for a whole condition (an entry of `all`, `any`, `not`). */
export function compileConditionMatcher(c: ConditionConfig, ruleSets?: RuleSetLookup): Matcher {
  return joined(c, ruleSets);
}

function joined(c: ConditionConfig, ruleSets?: RuleSetLookup): Matcher {
  const ms = compileCondition(c, ruleSets);
  if (ms.length === 0) throw new TypeError('empty condition');
  return ms.length === 1 ? ms[0] : new AllMatcher(ms, '');
}

function findRuleSet(tag: string, ruleSets: RuleSetLookup | undefined): RuleSetRef {
  if (!ruleSets) throw new TypeError(`rule_set "${tag}" cannot be used here`);
  const ref = ruleSets.get(tag);
  if (!ref) throw new TypeError(`unknown rule set "${tag}"`);
  return ref;
}
