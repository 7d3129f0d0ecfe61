import type { ConditionConfig, PortRange, RouteConfig, RuleConfig } from './types';

const ports = (list: readonly PortRange[]): (number | string)[] => list.map((r) => (r.from === r.to ? r.from : `${r.from}-${r.to}`));

function conditionToDocument(c: ConditionConfig): Record<string, unknown> {
  return {
    ...c,
    ...(c.src_port ? { src_port: ports(c.src_port) } : {}),
    ...(c.dst_port ? { dst_port: ports(c.dst_port) } : {}),
    ...(c.all ? { all: c.all.map(conditionToDocument) } : {}),
    ...(c.any ? { any: c.any.map(conditionToDocument) } : {}),
    ...(c.not ? { not: conditionToDocument(c.not) } : {}),
  };
}

/** A rule as a config file writes it: a Clash line stays a line; ports go back to `53` / `"5000-5100"`. */
export function ruleToDocument(r: RuleConfig): unknown {
  if (r.clash !== undefined) return r.clash;
  return conditionToDocument(r);
}

/** `route` as a config file writes it, so `sluice check --print` output loads again. */
export function routeToDocument(route: RouteConfig): Record<string, unknown> {
  return {
    rules: route.rules.map(ruleToDocument),
    ...(route.rule_sets.length > 0 ? { rule_sets: route.rule_sets.map((s) => ({ ...s })) } : {}),
    final: route.final,
  };
}
