import type { ConfigField } from '../config-keys/field';
import type { ConfigIssue } from '../errors';

/** A parsed YAML/JSON mapping. */
export type Obj = Record<string, unknown>;

/** Collects every problem instead of stopping at the first, so one `sluice check` run shows them all. */
export class IssueList {
  readonly items: ConfigIssue[] = [];
  add(path: string, message: string): void {
    this.items.push({ path, message });
  }
  get length(): number {
    return this.items.length;
  }
}

/** Appends a key or index to a path: `at('inbounds', 0)` → `inbounds[0]`, `at('inbounds[0]', 'port')` → `inbounds[0].port`. */
export function at(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

/** True for a mapping (not a list, not null). */
export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Returns `v` as a mapping and reports keys outside `known` (strict objects
 * catch misspellings that would otherwise silently fall back to a default).
 */
export function readObject(v: unknown, path: string, known: readonly string[], issues: IssueList): Obj | undefined {
  if (!isObj(v)) {
    issues.add(path, 'must be a mapping');
    return undefined;
  }
  for (const key of Object.keys(v)) {
    // Reported at the key's own path, as the outbound factories do (util/zod-issues).
    if (!known.includes(key)) issues.add(at(path, key), unknownKey(key, known));
  }
  return v;
}

/** An optional section: absent means all defaults. */
export function readSection(root: Obj, key: string, known: readonly string[], issues: IssueList): Obj {
  const v = root[key];
  if (v === undefined || v === null) return {};
  return readObject(v, key, known, issues) ?? {};
}

function unknownKey(key: string, known: readonly string[]): string {
  // Short keys get fewer edits, or "foo" would be "did you mean log?".
  let bestDistance = Math.max(1, Math.floor(key.length / 3)) + 1;
  let best: string | undefined;
  for (const k of known) {
    const d = editDistance(key, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best ? `unknown key "${key}" (did you mean "${best}"?)` : `unknown key "${key}"`;
}

/** Optimal-string-alignment distance: like Levenshtein, but a swap of two neighbours ("prot") costs 1. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * An integer written as a number, a decimal string or a hex string (`"0x2"`).
 * YAML 1.2 already turns a plain `0x2` into 2; the string forms are for JSON
 * and for people who quote marks.
 */
export function toInt(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  if (/^0x[0-9a-f]+$/i.test(s)) return Number.parseInt(s.slice(2), 16);
  if (/^[0-9]+$/.test(s)) return Number(s);
  return undefined;
}

/** Inclusive bounds of an integer setting. */
export interface IntRule {
  readonly min: number;
  readonly max: number;
}

/** Reads an integer key; returns `def` (after recording an issue) when it is missing or invalid. */
export function readInt(obj: Obj, key: string, path: string, rule: IntRule, def: number, issues: IssueList): number {
  const v = obj[key];
  if (v === undefined) return def;
  return checkInt(v, at(path, key), rule, issues) ?? def;
}

/** Validates one integer value at `path`. */
export function checkInt(v: unknown, path: string, rule: IntRule, issues: IssueList): number | undefined {
  const n = toInt(v);
  if (n === undefined) {
    issues.add(path, `must be an integer ${rule.min}-${rule.max} (got ${show(v)})`);
    return undefined;
  }
  if (n < rule.min || n > rule.max) {
    issues.add(path, `must be ${rule.min}-${rule.max}`);
    return undefined;
  }
  return n;
}

/** Reads a required non-empty string. */
export function readString(obj: Obj, key: string, path: string, issues: IssueList): string | undefined {
  const v = obj[key];
  const p = at(path, key);
  if (v === undefined || v === null) {
    issues.add(p, 'required');
    return undefined;
  }
  if (typeof v !== 'string' || v.trim() === '') {
    issues.add(p, `must be a non-empty string (got ${show(v)})`);
    return undefined;
  }
  return v;
}

/** Reads an optional boolean; `def` when absent or invalid. */
export function readBool(obj: Obj, key: string, path: string, def: boolean, issues: IssueList): boolean {
  const v = obj[key];
  if (v === undefined) return def;
  if (typeof v !== 'boolean') {
    issues.add(at(path, key), `must be true or false (got ${show(v)})`);
    return def;
  }
  return v;
}

/**
 * Reads a value that may be one item or a list of items; `each` gets the
 * item's own path (`x[1]` for lists, `x` for a single value).
 */
export function readList<T>(
  v: unknown,
  path: string,
  issues: IssueList,
  each: (item: unknown, itemPath: string) => T | undefined,
): T[] | undefined {
  const items = Array.isArray(v) ? v : [v];
  if (items.length === 0) {
    issues.add(path, 'must not be empty');
    return undefined;
  }
  const out: T[] = [];
  items.forEach((item, i) => {
    const r = each(item, Array.isArray(v) ? at(path, i) : path);
    if (r !== undefined) out.push(r);
  });
  return out.length === items.length ? out : undefined;
}

/** Short rendering of a bad value for messages. */
export function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * Reads the integer key `field` describes, with its bounds and default: the
 * descriptor (config-keys/) is the one place both are written.
 */
export function readIntField(obj: Obj, field: ConfigField, path: string, issues: IssueList): number {
  const range = field.value.range;
  if (!range || typeof field.default !== 'number') throw new Error(`config key "${field.key}" is not an integer with a default`);
  return readInt(obj, field.key, path, range, field.default, issues);
}

/** Reads the boolean key `field` describes, with its default. */
export function readBoolField(obj: Obj, field: ConfigField, path: string, issues: IssueList): boolean {
  if (typeof field.default !== 'boolean') throw new Error(`config key "${field.key}" is not a boolean with a default`);
  return readBool(obj, field.key, path, field.default, issues);
}
