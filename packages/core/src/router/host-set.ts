import { normalizeDomainName } from '../config/domain-name';
import { DomainTrie } from './domain-trie';
import { KeywordSet } from './keyword-set';

/** The four ways to name hosts, as in a rule (`domain`, `domain_suffix`, `domain_keyword`, `domain_regex`). */
export interface HostPatterns {
  /** Names matched exactly. */
  readonly domain?: readonly string[];
  /** `example.com`: that name and every name under it; `.example.com`: only names under it. */
  readonly domain_suffix?: readonly string[];
  /** Substrings. */
  readonly domain_keyword?: readonly string[];
  /** Regular expressions, case-insensitive. */
  readonly domain_regex?: readonly string[];
  /** Clash wildcard patterns: `+.example.com`, `.example.com`, `*.example.com`, `example.com`. */
  readonly clash?: readonly string[];
}

const NO_REGEXES: readonly RegExp[] = [];

/**
 * A compiled set of host patterns: exact names, suffixes and Clash wildcards
 * in one {@link DomainTrie}, keywords in one {@link KeywordSet}, regular
 * expressions tried last. A host matches when any pattern does. Shared by
 * rules, rule sets and (through {@link HostSet.has}) the DNS resolver.
 */
export class HostSet {
  private readonly trie = new DomainTrie();
  /** Absent when there are none, as in most sets: a rule per name must stay small. */
  private readonly keywords: KeywordSet | undefined;
  private readonly regexes: readonly RegExp[];

  constructor(patterns: HostPatterns) {
    for (const d of patterns.domain ?? []) this.trie.add(normalizeDomainName(d));
    for (const d of patterns.domain_suffix ?? []) this.trie.addSuffix(normalizeDomainName(d));
    for (const d of patterns.clash ?? []) this.trie.add(normalizeDomainName(d));
    this.keywords = patterns.domain_keyword?.length ? new KeywordSet(patterns.domain_keyword.map((k) => k.toLowerCase())) : undefined;
    this.regexes = patterns.domain_regex?.length ? patterns.domain_regex.map((r) => new RegExp(r, 'i')) : NO_REGEXES;
  }

  /** Number of patterns. */
  get size(): number {
    return this.trie.size + (this.keywords?.size ?? 0) + this.regexes.length;
  }

  /** Whether the name matches a pattern; case-insensitive, a trailing dot ignored. */
  has(name: string): boolean {
    const host = normalizeHost(name);
    if (this.trie.has(host)) return true;
    if (this.keywords?.has(host)) return true;
    for (const r of this.regexes) if (r.test(host)) return true;
    return false;
  }
}

/** Lower case without a trailing dot; returns `name` itself when it already is (the usual case), so no copy is made. */
export function normalizeHost(name: string): string {
  let clean = name.charCodeAt(name.length - 1) !== 46;
  for (let i = 0; clean && i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) clean = false;
  }
  return clean ? name : normalizeDomainName(name);
}
