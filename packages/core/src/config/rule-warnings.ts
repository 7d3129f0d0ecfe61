import type { ConfigIssue } from '../errors';
import type { SluiceConfig } from './types';

/**
 * Rules that can never match because an earlier rule takes every flow
 * (`MATCH`): one warning for the first of them, naming the catch-all.
 */
export function unreachableRuleWarnings(config: SluiceConfig): ConfigIssue[] {
  const rules = config.route.rules;
  const catchAll = rules.findIndex((r) => r.clash !== undefined && /^\s*MATCH\s*,/i.test(r.clash));
  if (catchAll < 0 || catchAll === rules.length - 1) return [];
  const after = rules.length - catchAll - 1;
  return [
    {
      path: `route.rules[${catchAll + 1}]`,
      message: `never reached: ${rules[catchAll].name} (MATCH) takes every flow, so the ${after === 1 ? 'rule' : `${after} rules`} after it and route.final are unused`,
    },
  ];
}
