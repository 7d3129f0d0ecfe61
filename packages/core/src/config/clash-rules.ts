import type { ConditionConfig, PortRange } from './types';
import { domainEntryProblem, normalizeDomainName } from './domain-name';
import { parseCidr } from './net';

/** A Clash rule line or condition that cannot be read; the message names what is wrong, not where. */
export class ClashSyntaxError extends Error {
  override readonly name = 'ClashSyntaxError';
}

/** One Clash condition, read: its type and payload as written, and the equivalent structured condition. */
export interface ClashCondition {
  /** Upper-case rule type (`DOMAIN-SUFFIX`, `AND`, `MATCH`…). */
  readonly type: string;
  /** Everything between the type and the target, as written (`example.com`, `((DOMAIN,a.com),(NETWORK,UDP))`). */
  readonly payload: string;
  /** The condition; empty (matches every flow) for `MATCH`. */
  readonly condition: ConditionConfig;
}

/** A Clash rule line, read: its condition and the outbound it names. */
export interface ClashRule extends ClashCondition {
  readonly target: string;
}

/** The rule types Sluice reads, besides the logical ones and `MATCH`. */
export const CLASH_LEAF_TYPES = [
  'DOMAIN',
  'DOMAIN-SUFFIX',
  'DOMAIN-KEYWORD',
  'DOMAIN-REGEX',
  'IP-CIDR',
  'IP-CIDR6',
  'SRC-IP-CIDR',
  'DST-PORT',
  'SRC-PORT',
  'NETWORK',
  'IN-NAME',
  'RULE-SET',
] as const;

const LOGICAL = new Set(['AND', 'OR', 'NOT']);
/** Trailing options Clash allows after the target; Sluice never resolves names for IP rules, so `no-resolve` changes nothing. */
const OPTIONS = new Set(['no-resolve']);

/**
 * Reads a Clash rule line, `TYPE,PAYLOAD,TARGET[,no-resolve]`, the logical
 * forms `AND,((…),(…)),TARGET`, `OR,…`, `NOT,((…)),TARGET`, and `MATCH,TARGET`.
 *
 * @throws {ClashSyntaxError} naming the problem (an unknown type, a bad CIDR…).
 */
export function parseClashRule(line: string): ClashRule {
  const text = line.trim();
  const type = typeOf(text);
  if (type === 'MATCH') {
    const target = text.slice(text.indexOf(',') + 1).trim();
    if (!text.includes(',') || target === '' || target.includes(',')) throw new ClashSyntaxError('MATCH takes only a target (MATCH,outbound)');
    return { type, payload: '', condition: {}, target };
  }
  if (LOGICAL.has(type)) {
    const { payload, rest } = splitGroup(text, type);
    const fields = stripOptions(rest.split(',').map((f) => f.trim()));
    if (fields.length !== 2 || fields[0] !== '' || fields[1] === '') throw new ClashSyntaxError(`${type} needs a target after its conditions`);
    return { type, payload, condition: logical(type, payload), target: fields[1] };
  }
  const fields = stripOptions(splitFields(text));
  if (fields.length < 3) throw new ClashSyntaxError(fields.length < 2 || !CLASH_LEAF_TYPES.includes(type as never) ? malformedOrUnknown(type) : `${type} needs a payload and a target`);
  const target = fields[fields.length - 1];
  const payloadFields = fields.slice(1, -1);
  // Only a regular expression may itself hold commas.
  if (payloadFields.length > 1 && type !== 'DOMAIN-REGEX') {
    throw new ClashSyntaxError(CLASH_LEAF_TYPES.includes(type as never) ? `too many fields for ${type}` : malformedOrUnknown(type));
  }
  const payload = payloadFields.join(',');
  if (target === '') throw new ClashSyntaxError('empty target');
  return { type, payload, condition: leaf(type, payload), target };
}

/**
 * Reads a Clash condition without a target, as inside `AND,((…))` and in a
 * `classical` rule-provider's payload: `DOMAIN,a.com`, `IP-CIDR,10.0.0.0/8,no-resolve`,
 * `OR,((…),(…))`.
 *
 * @throws {ClashSyntaxError} naming the problem.
 */
export function parseClashCondition(text: string): ClashCondition {
  const t = text.trim();
  const type = typeOf(t);
  if (type === 'MATCH') throw new ClashSyntaxError('MATCH is a whole rule, not a condition');
  if (LOGICAL.has(type)) {
    const { payload, rest } = splitGroup(t, type);
    if (stripOptions(rest.split(',').map((f) => f.trim())).some((f) => f !== '')) throw new ClashSyntaxError(`unexpected text after the conditions of ${type}`);
    return { type, payload, condition: logical(type, payload) };
  }
  const fields = stripOptions(splitFields(t));
  if (fields.length < 2) throw new ClashSyntaxError(malformedOrUnknown(type));
  if (fields.length > 2 && type !== 'DOMAIN-REGEX') throw new ClashSyntaxError(CLASH_LEAF_TYPES.includes(type as never) ? `too many fields for ${type}` : malformedOrUnknown(type));
  const payload = fields.slice(1).join(',');
  return { type, payload, condition: leaf(type, payload) };
}

function typeOf(text: string): string {
  if (text === '') throw new ClashSyntaxError('empty rule');
  const comma = text.indexOf(',');
  return (comma < 0 ? text : text.slice(0, comma)).trim().toUpperCase();
}

function malformedOrUnknown(type: string): string {
  return CLASH_LEAF_TYPES.includes(type as never) || LOGICAL.has(type) || type === 'MATCH' ? `malformed ${type} rule` : `unknown rule type "${type}"`;
}

function splitFields(text: string): string[] {
  return text.split(',').map((f) => f.trim());
}

function stripOptions(fields: string[]): string[] {
  let end = fields.length;
  while (end > 2 && OPTIONS.has(fields[end - 1].toLowerCase())) end--;
  return fields.slice(0, end);
}

/** `AND,((…),(…)),rest` → the parenthesised payload and what follows it. */
function splitGroup(text: string, type: string): { payload: string; rest: string } {
  const start = text.indexOf(',') + 1;
  let i = start;
  while (i < text.length && text[i] === ' ') i++;
  if (start === 0 || text[i] !== '(') throw new ClashSyntaxError(`${type} needs its conditions in parentheses: ${type},((…),(…))`);
  const end = closingParen(text, i);
  return { payload: text.slice(i, end + 1), rest: text.slice(end + 1) };
}

function closingParen(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) return i;
  }
  throw new ClashSyntaxError('unbalanced parentheses');
}

/** `((A),(B))` → the conditions A and B. */
function logical(type: string, payload: string): ConditionConfig {
  const inner = payload.slice(1, -1).trim();
  const parts: ConditionConfig[] = [];
  let i = 0;
  while (i < inner.length) {
    if (inner[i] !== '(') throw new ClashSyntaxError(`${type}: each condition must be in parentheses, got "${inner.slice(i)}"`);
    const end = closingParen(inner, i);
    parts.push(parseClashCondition(inner.slice(i + 1, end)).condition);
    i = end + 1;
    while (i < inner.length && inner[i] === ' ') i++;
    if (i < inner.length) {
      if (inner[i] !== ',') throw new ClashSyntaxError(`${type}: expected "," between conditions`);
      i++;
      while (i < inner.length && inner[i] === ' ') i++;
    }
  }
  if (parts.length === 0) throw new ClashSyntaxError(`${type} has no conditions`);
  if (type === 'NOT') {
    if (parts.length !== 1) throw new ClashSyntaxError('NOT takes exactly one condition');
    return { not: parts[0] };
  }
  return type === 'AND' ? { all: parts } : { any: parts };
}

function domain(payload: string, wildcard: boolean): string {
  const name = normalizeDomainName(payload);
  const problem = domainEntryProblem(wildcard && name.startsWith('.') ? name.slice(1) : name);
  if (problem) throw new ClashSyntaxError(problem);
  return name;
}

function cidr(payload: string, family?: 6): string {
  const c = parseCidr(payload);
  if (!c) throw new ClashSyntaxError(`invalid CIDR "${payload}"`);
  if (family === 6 && c.family !== 6) throw new ClashSyntaxError(`IP-CIDR6 needs an IPv6 prefix, got "${payload}"`);
  return payload;
}

/** `80`, `8000-9000`, several joined by `/` (as Clash writes them). */
export function parseClashPorts(payload: string): PortRange[] {
  return payload.split('/').map((part) => {
    const m = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(part);
    const from = m ? Number(m[1]) : NaN;
    const to = m?.[2] !== undefined ? Number(m[2]) : from;
    if (!m || from < 1 || to > 65535 || from > to) throw new ClashSyntaxError(`invalid port "${part}" (1-65535, or a range like 8000-9000)`);
    return { from, to };
  });
}

function leaf(type: string, payload: string): ConditionConfig {
  if (payload === '') throw new ClashSyntaxError(`${type} needs a payload`);
  switch (type) {
    case 'DOMAIN':
      return { domain: [domain(payload, false)] };
    case 'DOMAIN-SUFFIX':
      return { domain_suffix: [domain(payload, true)] };
    case 'DOMAIN-KEYWORD':
      return { domain_keyword: [payload.toLowerCase()] };
    case 'DOMAIN-REGEX':
      try {
        new RegExp(payload, 'i');
      } catch (err) {
        throw new ClashSyntaxError(`invalid regular expression: ${(err as Error).message}`);
      }
      return { domain_regex: [payload] };
    case 'IP-CIDR':
      return { dst_cidr: [cidr(payload)] };
    case 'IP-CIDR6':
      return { dst_cidr: [cidr(payload, 6)] };
    case 'SRC-IP-CIDR':
      return { src_cidr: [cidr(payload)] };
    case 'DST-PORT':
      return { dst_port: parseClashPorts(payload) };
    case 'SRC-PORT':
      return { src_port: parseClashPorts(payload) };
    case 'NETWORK': {
      const n = payload.toLowerCase();
      if (n !== 'tcp' && n !== 'udp') throw new ClashSyntaxError(`NETWORK must be TCP or UDP, got "${payload}"`);
      return { network: [n] };
    }
    case 'IN-NAME':
      return { inbound: [payload] };
    case 'RULE-SET':
      return { rule_set: [payload] };
    default:
      throw new ClashSyntaxError(malformedOrUnknown(type));
  }
}
