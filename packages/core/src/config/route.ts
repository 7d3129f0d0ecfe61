import type { RouteConfig, RuleConfig } from './types';
import { ClashSyntaxError, parseClashRule } from './clash-rules';
import { CONDITION_KEYS, hasCondition, readConditionFields, unknownRefs, type ConditionTags } from './conditions';
import { readRuleSets } from './rule-sets';
import { at, IssueList, readIntField, readObject, readString, show } from './reader';
import { fieldOf, keysOf } from '../config-keys/field';
import { ROUTE_FIELDS, RULE_FIELDS } from '../config-keys/route';

export { readCidrs, readPorts } from './conditions';

const ROUTE_KEYS = keysOf(ROUTE_FIELDS);
const RULE_KEYS = keysOf(RULE_FIELDS);

/** Tags that rules may refer to. */
export interface KnownTags {
  readonly inbounds: ReadonlySet<string>;
  readonly outbounds: ReadonlySet<string>;
  /** The outbound list as written, to default `final` when there is only one. */
  readonly outboundOrder: readonly string[];
}

function readTagRef(v: unknown, path: string, known: ReadonlySet<string>, kind: string, issues: IssueList): string | undefined {
  if (typeof v !== 'string' || v === '') {
    issues.add(path, `must be a non-empty string (got ${show(v)})`);
    return undefined;
  }
  if (!known.has(v)) {
    issues.add(path, `unknown ${kind} "${v}"`);
    return undefined;
  }
  return v;
}

function readRule(v: unknown, i: number, tags: KnownTags & ConditionTags, issues: IssueList): RuleConfig | undefined {
  const path = at('route.rules', i);
  if (typeof v === 'string') return readClashRule(v, path, i, tags, issues);
  const obj = readObject(v, path, RULE_KEYS, issues);
  if (!obj) return undefined;
  const before = issues.length;
  if (!hasCondition(obj)) {
    issues.add(path, `has no match condition (one of ${CONDITION_KEYS.join(', ')}); use route.final or a MATCH line for a catch-all`);
  }
  const name = obj.name === undefined ? `rules[${i}]` : readString(obj, 'name', path, issues);
  const conditions = readConditionFields(obj, path, tags, issues);
  const outbound =
    obj.outbound === undefined
      ? (issues.add(at(path, 'outbound'), 'required'), '')
      : (readTagRef(obj.outbound, at(path, 'outbound'), tags.outbounds, 'outbound', issues) ?? '');
  if (issues.length !== before) return undefined;
  return { name: name ?? '', ...conditions, outbound };
}

/** A Clash rule line; errors name the rule index and quote the line. */
function readClashRule(line: string, path: string, i: number, tags: KnownTags & ConditionTags, issues: IssueList): RuleConfig | undefined {
  let rule;
  try {
    rule = parseClashRule(line);
  } catch (err) {
    if (!(err instanceof ClashSyntaxError)) throw err;
    issues.add(path, `${err.message} in "${line}"`);
    return undefined;
  }
  const problems = unknownRefs(rule.condition, tags);
  if (!tags.outbounds.has(rule.target)) problems.push(`unknown outbound "${rule.target}"`);
  for (const p of problems) issues.add(path, `${p} in "${line}"`);
  if (problems.length > 0) return undefined;
  return { name: `rules[${i}]`, ...rule.condition, outbound: rule.target, clash: line.trim() };
}

/**
 * Reads `route`: the rule sets (loading each file once), each rule's
 * conditions and references, and `final` (defaulting to a sole outbound).
 * `baseDir` resolves relative rule-set paths.
 */
export function readRoute(v: unknown, tags: KnownTags, issues: IssueList, baseDir = process.cwd()): RouteConfig {
  const obj = v === undefined || v === null ? {} : (readObject(v, 'route', ROUTE_KEYS, issues) ?? {});
  const ruleSets = readRuleSets(obj.rule_sets, baseDir, issues);
  const ruleSetTags = new Set(ruleSets.map((r) => r.tag));
  if (Array.isArray(obj.rule_sets)) {
    // Tags of entries that failed for another reason still count, so their references do not add a second error.
    for (const e of obj.rule_sets as unknown[]) if (typeof (e as { tag?: unknown })?.tag === 'string') ruleSetTags.add((e as { tag: string }).tag);
  }
  const ruleTags = { ...tags, ruleSets: ruleSetTags };
  const rules: RuleConfig[] = [];
  if (obj.rules !== undefined && obj.rules !== null) {
    if (!Array.isArray(obj.rules)) issues.add('route.rules', 'must be a list');
    else
      obj.rules.forEach((r, i) => {
        const rule = readRule(r, i, ruleTags, issues);
        if (rule) rules.push(rule);
      });
  }
  let final = '';
  if (obj.final !== undefined && obj.final !== null) {
    final = readTagRef(obj.final, 'route.final', tags.outbounds, 'outbound', issues) ?? '';
  } else if (tags.outboundOrder.length === 1) {
    final = tags.outboundOrder[0];
  } else if (tags.outboundOrder.length > 1) {
    issues.add('route.final', 'required when there is more than one outbound (names the outbound for flows no rule matches)');
  }
  const hookTimeoutMs = readIntField(obj, fieldOf(ROUTE_FIELDS, 'hook_timeout_ms'), 'route', issues);
  return { rules, rule_sets: ruleSets, final, hook_timeout_ms: hookTimeoutMs };
}
