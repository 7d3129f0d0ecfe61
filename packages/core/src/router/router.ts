import type { FlowMetadata } from '../adapter/flow';
import type { FlowRouter, RouteDecision } from '../adapter/router';
import type { RouteConfig } from '../config/types';
import { compileRule, type Rule } from './rule';

/**
 * The rule router: rules are compiled once, then each flow is checked
 * against them in order and the first match wins; `final` takes the rest.
 */
export class Router implements FlowRouter {
  readonly rules: readonly Rule[];
  readonly final: string;
  private readonly finalDecision: RouteDecision;

  /** @throws {TypeError|RangeError} when `route` was not validated and holds a bad CIDR or port. */
  constructor(route: RouteConfig) {
    this.rules = route.rules.map(compileRule);
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
