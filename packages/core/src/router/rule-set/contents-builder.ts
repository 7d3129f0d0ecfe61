import type { ConditionConfig } from '../../config/types';
import { compileConditionMatcher } from '../condition';
import type { Matcher } from '../matcher';
import type { RuleSetContents } from './compiled-rule-set';

const HOST_KEYS = ['domain', 'domain_suffix', 'domain_keyword', 'domain_regex'] as const;

/**
 * Collects a rule set's entries: names and prefixes into the shared
 * structures, anything else compiled to a matcher. The format parsers feed it.
 */
export class ContentsBuilder {
  readonly domain: string[] = [];
  readonly domain_suffix: string[] = [];
  readonly domain_keyword: string[] = [];
  readonly domain_regex: string[] = [];
  /** Clash wildcard patterns (`+.a.com`, `.a.com`, `*.a.com`, `a.com`). */
  readonly clash: string[] = [];
  readonly cidrs: string[] = [];
  readonly rules: Matcher[] = [];

  /**
   * Adds one condition: a condition of only host fields, or only `dst_cidr`,
   * joins the shared structures (the set matches when any entry does);
   * anything else becomes a matcher of its own.
   *
   * @throws {TypeError} when the condition names a rule set (not allowed inside one).
   */
  addCondition(c: ConditionConfig): void {
    const keys = Object.keys(c);
    if (keys.length > 0 && keys.every((k) => (HOST_KEYS as readonly string[]).includes(k))) {
      for (const k of HOST_KEYS) for (const v of c[k] ?? []) this[k].push(v);
    } else if (keys.length === 1 && c.dst_cidr) {
      for (const v of c.dst_cidr) this.cidrs.push(v);
    } else {
      this.rules.push(compileConditionMatcher(c));
    }
  }

  /** The collected contents. */
  build(): RuleSetContents {
    const { domain, domain_suffix, domain_keyword, domain_regex, clash } = this;
    return { hosts: { domain, domain_suffix, domain_keyword, domain_regex, clash }, cidrs: this.cidrs, rules: this.rules };
  }
}
