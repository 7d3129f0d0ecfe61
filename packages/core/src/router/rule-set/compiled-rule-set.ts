import type { FlowMetadata } from '../../adapter/flow';
import { CidrSet } from '../cidr-set';
import { HostSet, type HostPatterns } from '../host-set';
import type { Matcher } from '../matcher';

/** What a rule-set file holds, sorted into the shared structures. */
export interface RuleSetContents {
  /** Host patterns, all in one {@link HostSet}. */
  readonly hosts: HostPatterns;
  /** Destination prefixes, in one {@link CidrSet}. */
  readonly cidrs: readonly string[];
  /** Entries that are more than one name or prefix (`DST-PORT,443`, a sing-box rule with `port`), tried in order. */
  readonly rules: readonly Matcher[];
}

/**
 * The compiled contents of one rule set. A flow matches when its host is in
 * the host patterns, its destination address in the prefixes, or one of the
 * other entries matches. Most sets are all names or all prefixes, so a lookup
 * is one trie walk or one bisection.
 */
export class CompiledRuleSet {
  readonly hosts: HostSet;
  readonly cidrs: CidrSet;
  readonly rules: readonly Matcher[];
  /** Number of entries read from the file. */
  readonly size: number;

  /** @throws {TypeError} on a CIDR the parser let through. */
  constructor(contents: RuleSetContents) {
    this.hosts = new HostSet(contents.hosts);
    this.cidrs = CidrSet.from(contents.cidrs);
    this.rules = contents.rules;
    this.size = this.hosts.size + contents.cidrs.length + contents.rules.length;
  }

  /** An empty set: what a rule set holds before it is loaded. */
  static empty(): CompiledRuleSet {
    return new CompiledRuleSet({ hosts: {}, cidrs: [], rules: [] });
  }

  /** Whether `flow` matches an entry. */
  match(flow: FlowMetadata): boolean {
    const host = flow.dst.host;
    if (host && this.hosts.has(host)) return true;
    if (this.cidrs.has(flow.dst.address)) return true;
    for (const r of this.rules) if (r.match(flow)) return true;
    return false;
  }

  /** Whether the name matches the set's host patterns (for DNS rules: other entries are ignored). */
  matchesHost(name: string): boolean {
    return this.hosts.has(name);
  }

  /** Whether an address is in the set's prefixes. */
  matchesAddress(address: string): boolean {
    return this.cidrs.has(address);
  }
}
