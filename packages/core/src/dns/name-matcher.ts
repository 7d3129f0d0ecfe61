/**
 * Whether a name belongs to a set of domains. The resolver's rules and the
 * fake-IP filter see only this, so the router's domain set (suffix trie,
 * rule sets) can replace {@link SuffixNameMatcher} in one line.
 */
export interface NameMatcher {
  /** `name` is lower-case, without the trailing dot. */
  matches(name: string): boolean;
}

/** Finds the matcher of a `route.rule_sets` tag (undefined for an unknown tag). */
export type DnsRuleSetLookup = (tag: string) => NameMatcher | undefined;

/** The patterns a matcher is built from, as the config writes them. */
export interface NamePatterns {
  /** Exact names. */
  readonly domain?: readonly string[];
  /** The name itself and everything under it. */
  readonly domain_suffix?: readonly string[];
  /** Exactly one label under the name (`*.lan`). */
  readonly one_label?: readonly string[];
  readonly rule_set?: readonly string[];
}

/**
 * Exact names and suffixes in hash sets: a lookup costs one probe per label
 * of the name, whatever the number of patterns.
 */
export class SuffixNameMatcher implements NameMatcher {
  private readonly exact: Set<string>;
  private readonly suffixes: Set<string>;
  private readonly oneLabel: Set<string>;
  private readonly sets: NameMatcher[];

  constructor(p: NamePatterns, ruleSets?: DnsRuleSetLookup) {
    this.exact = new Set(p.domain ?? []);
    this.suffixes = new Set(p.domain_suffix ?? []);
    this.oneLabel = new Set(p.one_label ?? []);
    this.sets = (p.rule_set ?? []).map((tag) => ruleSets?.(tag)).filter((m): m is NameMatcher => m !== undefined);
  }

  matches(name: string): boolean {
    if (this.exact.has(name) || this.suffixes.has(name)) return true;
    let dot = name.indexOf('.');
    if (dot >= 0 && this.oneLabel.has(name.slice(dot + 1))) return true;
    while (dot >= 0) {
      if (this.suffixes.has(name.slice(dot + 1))) return true;
      dot = name.indexOf('.', dot + 1);
    }
    return this.sets.some((s) => s.matches(name));
  }
}

/**
 * The `fake_ip_filter` patterns as a matcher: `*.lan` (one label under),
 * `+.example.com` (the name and everything under it), `example.com`
 * (exactly), `rule-set:TAG`.
 */
export function filterMatcher(patterns: readonly string[], ruleSets?: DnsRuleSetLookup): NameMatcher {
  const p = { domain: [] as string[], domain_suffix: [] as string[], one_label: [] as string[], rule_set: [] as string[] };
  for (const pattern of patterns) {
    if (pattern.startsWith('rule-set:')) p.rule_set.push(pattern.slice(9));
    else if (pattern.startsWith('*.')) p.one_label.push(pattern.slice(2));
    else if (pattern.startsWith('+.')) p.domain_suffix.push(pattern.slice(2));
    else p.domain.push(pattern);
  }
  return new SuffixNameMatcher(p, ruleSets);
}
