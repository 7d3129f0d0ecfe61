import type { FlowMetadata } from '../adapter/flow';
import type { FlowRouter, RouteDecision } from '../adapter/router';
import type { RouteConfig } from '../config/types';
import { compileRule, type Rule } from './rule';
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

/**
 * The rule router: rules are compiled once, then each flow is checked
 * against them in order and the first match wins; `final` takes the rest.
 * A `MATCH` rule matches every flow, so `final` is used only when no rule
 * (and no `MATCH`) matched.
 */
export class Router implements FlowRouter {
  readonly rules: readonly Rule[];
  readonly final: string;
  private readonly finalDecision: RouteDecision;

  /**
   * @throws {TypeError|RangeError} when `route` was not validated and holds a bad CIDR, port or rule-set tag.
   * @throws {ConfigError} naming `route.rule_sets[i].path` when a rule-set file cannot be loaded (only without `opts.ruleSets`).
   */
  constructor(route: RouteConfig, opts: RouterOptions = {}) {
    const ruleSets = opts.ruleSets ?? (route.rule_sets?.length ? RuleSetStore.load(route.rule_sets) : undefined);
    this.rules = route.rules.map((r) => compileRule(r, ruleSets));
    this.final = route.final;
    this.finalDecision = Object.freeze({ rule: 'final', outbound: route.final });
  }

  /** Chooses the outbound for `flow`; `rule` is the matching rule's name or `final`. */
  route(flow: FlowMetadata): RouteDecision {
    for (const rule of this.rules) if (rule.match(flow)) return rule.decision;
    return this.finalDecision;
  }

  /** One line per rule, then the final outbound. */
  toString(): string {
    return [...this.rules.map(String), `final -> ${this.final}`].join('\n');
  }
}
