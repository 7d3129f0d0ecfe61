import type { FlowMetadata } from '../adapter/flow';
import type { FlowRouter, RouteDecision } from '../adapter/router';
import type { RouteConfig } from '../config/types';
import { compileRule, type Rule } from './rule';
import { isIndexable, RuleIndex } from './rule-index';
import type { RuleSetLookup } from './rule-set/rule-set-ref';
import { RuleSetStore } from './rule-set/store';

/** Options of {@link Router}. */
export interface RouterOptions {
  /**
   * Where `rule_set` tags are found; default: the files of `route.rule_sets`
   * loaded once, not watched (a running Sluice passes a watching {@link RuleSetStore}).
   */
  readonly ruleSets?: RuleSetLookup;
}

/** Runs of at least this many name-only or CIDR-only rules are indexed together. */
const INDEX_MIN_RUN = 4;

/**
 * The rule router: rules are compiled once, then each flow is checked
 * against them in order and the first match wins; `final` takes the rest.
 * A `MATCH` rule matches every flow, so `final` is used only when no rule
 * (and no `MATCH`) matched. Consecutive rules that are only names or only
 * CIDRs are looked up together (an index of the run), so long Clash lists of
 * `DOMAIN-SUFFIX` or `IP-CIDR` lines cost about what one rule does.
 */
export class Router implements FlowRouter {
  readonly rules: readonly Rule[];
  readonly final: string;
  private readonly finalDecision: RouteDecision;
  /** What `route` walks: single rules, and indexed runs of them. */
  private readonly steps: readonly (Rule | RuleIndex)[];

  /**
   * @throws {TypeError|RangeError} when `route` was not validated and holds a bad CIDR, port or rule-set tag.
   * @throws {ConfigError} naming `route.rule_sets[i].path` when a rule-set file cannot be loaded (only without `opts.ruleSets`).
   */
  constructor(route: RouteConfig, opts: RouterOptions = {}) {
    const ruleSets = opts.ruleSets ?? (route.rule_sets?.length ? RuleSetStore.load(route.rule_sets) : undefined);
    this.rules = route.rules.map((r) => compileRule(r, ruleSets));
    const steps: (Rule | RuleIndex)[] = [];
    for (let i = 0; i < this.rules.length; ) {
      let end = i;
      while (end < this.rules.length && isIndexable(route.rules[end])) end++;
      if (end - i >= INDEX_MIN_RUN) {
        steps.push(new RuleIndex(this.rules.slice(i, end), route.rules.slice(i, end)));
        i = end;
      } else {
        steps.push(this.rules[i]);
        i++;
      }
    }
    this.steps = steps;
    this.final = route.final;
    this.finalDecision = Object.freeze({ rule: 'final', outbound: route.final });
  }

  /** Chooses the outbound for `flow`; `rule` is the matching rule's name or `final`. */
  route(flow: FlowMetadata): RouteDecision {
    for (const step of this.steps) {
      const d = step.decide(flow);
      if (d !== undefined) return d;
    }
    return this.finalDecision;
  }

  /** One line per rule, then the final outbound. */
  toString(): string {
    return [...this.rules.map(String), `final -> ${this.final}`].join('\n');
  }
}
