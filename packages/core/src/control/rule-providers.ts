import { statSync } from 'node:fs';
import type { ClashBehavior, RuleSetConfig, RuleSetFormat } from '../config/types';
import type { RuleSetLookup } from '../router';

/** One entry of `GET /providers/rules`, in mihomo's shape. */
export interface ClashRuleProvider {
  readonly name: string;
  readonly type: 'Rule';
  /** `Domain`, `IPCIDR` or `Classical`: what the set holds, in mihomo's words. */
  readonly behavior: string;
  readonly ruleCount: number;
  /** RFC 3339: when the file the contents came from was last written. */
  readonly updatedAt: string;
  readonly vehicleType: 'File';
  /** `TextRule`, `YamlRule` (a Clash rule provider) or `JsonRule` (a sing-box rule set). */
  readonly format: string;
}

/**
 * `route.rule_sets` as rule providers, their counts read from the contents
 * the router uses now (a watched file's reload included).
 */
export function describeRuleProviders(configs: readonly RuleSetConfig[], lookup: RuleSetLookup | undefined): ClashRuleProvider[] {
  return configs.map((c) => {
    const set = lookup?.get(c.tag)?.current;
    const hosts = set?.hosts.size ?? 0;
    const rules = set?.rules.length ?? 0;
    const cidrs = (set?.size ?? 0) - hosts - rules;
    // A Clash rule provider says what it holds; the other formats hold what the file has.
    const behavior = c.behavior ?? (rules > 0 || (hosts > 0 && cidrs > 0) ? 'classical' : cidrs > 0 ? 'ipcidr' : 'domain');
    return { name: c.tag, type: 'Rule', behavior: BEHAVIORS[behavior], ruleCount: set?.size ?? 0, updatedAt: mtimeOf(c.path), vehicleType: 'File', format: FORMATS[c.format] };
  });
}

const BEHAVIORS: Record<ClashBehavior, string> = { domain: 'Domain', ipcidr: 'IPCIDR', classical: 'Classical' };
const FORMATS: Record<RuleSetFormat, string> = { text: 'TextRule', clash: 'YamlRule', 'sing-box': 'JsonRule' };

function mtimeOf(path: string): string {
  try {
    return statSync(path).mtime.toISOString();
  } catch {
    // Gone since it was loaded: the contents in use stay, with no time to show.
    return new Date(0).toISOString();
  }
}
