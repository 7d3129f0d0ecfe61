import type { FlowMetadata } from '../adapter/flow';
import type { RouteDecision } from '../adapter/router';
import type { RuleConfig } from '../config/types';
import { CidrIndex } from './cidr-index';
import { normalizeHost } from './host-set';
import type { Rule } from './rule';

const META = new Set(['name', 'outbound', 'clash']);
const NAME_KEYS = new Set(['domain', 'domain_suffix']);

/**
 * Whether a rule is only names (`domain`, `domain_suffix`) or only
 * `dst_cidr`: such rules, when several follow one another, are looked up
 * together in a {@link RuleIndex}.
 */
export function isIndexable(r: RuleConfig): boolean {
  const keys = Object.keys(r).filter((k) => !META.has(k));
  if (keys.length === 0) return false;
  return keys.every((k) => NAME_KEYS.has(k)) || (keys.length === 1 && keys[0] === 'dst_cidr');
}

class NameNode {
  /** Lowest rule position naming exactly this name. */
  exact = Number.POSITIVE_INFINITY;
  /** Lowest rule position matching every name below this one. */
  below = Number.POSITIVE_INFINITY;
  kids: Map<string, NameNode> | undefined;
}

/**
 * A run of consecutive name-only or CIDR-only rules, looked up at once: each
 * name and prefix is labelled with its rule's position, and a flow takes the
 * lowest position that matches, which is what checking the rules in order
 * would pick. So 100,000 `DOMAIN-SUFFIX` lines cost one trie walk and one
 * lookup per prefix length, not 100,000 matcher calls.
 */
export class RuleIndex {
  private readonly root = new NameNode();
  private readonly cidrs = new CidrIndex();
  private hasNames = false;
  private hasCidrs = false;

  /** `rules` and `configs` are the run, in order. */
  constructor(
    private readonly rules: readonly Rule[],
    configs: readonly RuleConfig[],
  ) {
    configs.forEach((c, i) => {
      for (const d of c.domain ?? []) this.addName(d, i, false);
      for (const d of c.domain_suffix ?? []) this.addName(d, i, true);
      for (const x of c.dst_cidr ?? []) {
        this.cidrs.add(x, i);
        this.hasCidrs = true;
      }
    });
  }

  /** Number of rules in the run. */
  get size(): number {
    return this.rules.length;
  }

  /** The decision of the first rule of the run that matches `flow`, or undefined. */
  decide(flow: FlowMetadata): RouteDecision | undefined {
    let best = Number.POSITIVE_INFINITY;
    const host = flow.dst.host;
    if (this.hasNames && host) best = this.lowestName(normalizeHost(host));
    if (this.hasCidrs) best = Math.min(best, this.cidrs.lowest(flow.dst.address));
    return best === Number.POSITIVE_INFINITY ? undefined : this.rules[best].decision;
  }

  private addName(name: string, label: number, suffix: boolean): void {
    const below = suffix;
    let self = true;
    let n = name;
    if (suffix && n.startsWith('.')) {
      n = n.slice(1);
      self = false;
    }
    let node = this.root;
    const labels = n.split('.');
    for (let i = labels.length - 1; i >= 0; i--) {
      node.kids ??= new Map();
      let next = node.kids.get(labels[i]);
      if (!next) node.kids.set(labels[i], (next = new NameNode()));
      node = next;
    }
    if (self && label < node.exact) node.exact = label;
    if (below && label < node.below) node.below = label;
    this.hasNames = true;
  }

  private lowestName(host: string): number {
    let best = Number.POSITIVE_INFINITY;
    let node: NameNode | undefined = this.root;
    let end = host.length;
    while (end > 0) {
      const dot = host.lastIndexOf('.', end - 1);
      node = node.kids?.get(host.slice(dot + 1, end));
      if (!node) break;
      if (dot < 0) {
        if (node.exact < best) best = node.exact;
        break;
      }
      if (node.below < best) best = node.below;
      end = dot;
    }
    return best;
  }
}
