/** The name ends at this node (`example.com` itself). */
const EXACT = 1;
/** Any name with one or more labels below this node (`*.example.com` at any depth). */
const BELOW = 2;

class TrieNode {
  flags = 0;
  /** Child labels; created on first use, so the many leaves of a large set hold no map. */
  kids: Map<string, TrieNode> | undefined;

  child(label: string): TrieNode {
    this.kids ??= new Map();
    let node = this.kids.get(label);
    if (!node) {
      node = new TrieNode();
      this.kids.set(label, node);
    }
    return node;
  }
}

/**
 * A set of domain patterns in a trie keyed by reversed labels (`com` →
 * `example` → `www`), so a lookup costs one map step per label of the host,
 * however many patterns there are.
 *
 * Patterns (already lower-case, without a trailing dot):
 * - `example.com`: that name only;
 * - `+.example.com`: example.com and every name under it (sing-box's and Clash's `domain_suffix`);
 * - `.example.com`: every name under example.com, not example.com itself;
 * - `*` as a whole label matches exactly one label (`*.example.com`, `a.*.example.com`).
 */
export class DomainTrie {
  private readonly root = new TrieNode();
  private count = 0;
  /** Whether any pattern has a `*` label; without one, a lookup never branches. */
  private wildcards = false;

  /** Number of patterns added. */
  get size(): number {
    return this.count;
  }

  /** Adds a pattern; see the class description for the forms. */
  add(pattern: string): void {
    let flag = EXACT;
    let name = pattern;
    if (name.startsWith('+.')) {
      flag = EXACT | BELOW;
      name = name.slice(2);
    } else if (name.startsWith('.')) {
      flag = BELOW;
      name = name.slice(1);
    }
    let node = this.root;
    const labels = name.split('.');
    for (let i = labels.length - 1; i >= 0; i--) {
      if (labels[i] === '*') this.wildcards = true;
      node = node.child(labels[i]);
    }
    node.flags |= flag;
    this.count++;
  }

  /** Adds `suffix` as example.com plus every name under it (`domain_suffix: example.com`). */
  addSuffix(suffix: string): void {
    this.add(suffix.startsWith('.') ? suffix : `+.${suffix}`);
  }

  /** Whether `host` (lower-case, no trailing dot) matches a pattern. */
  has(host: string): boolean {
    if (this.count === 0 || host === '') return false;
    return this.wildcards ? this.walk(this.root, host, host.length) : this.walkPlain(host);
  }

  /** The common case, no `*` patterns: one path down the trie, no recursion. */
  private walkPlain(host: string): boolean {
    let node: TrieNode | undefined = this.root;
    let end = host.length;
    while (true) {
      const dot = host.lastIndexOf('.', end - 1);
      node = node.kids?.get(host.slice(dot + 1, end));
      if (!node) return false;
      if (dot < 0) return (node.flags & EXACT) !== 0;
      if ((node.flags & BELOW) !== 0) return true;
      end = dot;
    }
  }

  /** With `*` labels: tries the label itself, then the wildcard, at each level. */
  private walk(node: TrieNode, host: string, end: number): boolean {
    const kids = node.kids;
    if (!kids) return false;
    const dot = host.lastIndexOf('.', end - 1);
    const label = host.slice(dot + 1, end);
    const exact = kids.get(label);
    if (exact && this.step(exact, host, dot)) return true;
    const star = kids.get('*');
    return star !== undefined && this.step(star, host, dot);
  }

  private step(node: TrieNode, host: string, dot: number): boolean {
    if (dot < 0) return (node.flags & EXACT) !== 0;
    if ((node.flags & BELOW) !== 0) return true;
    return this.walk(node, host, dot);
  }
}
