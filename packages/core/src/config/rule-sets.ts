import { statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { ClashBehavior, RuleSetConfig, RuleSetFormat } from './types';
import { keysOf } from '../config-keys/field';
import { RULE_SET_FIELDS } from '../config-keys/route';
import { at, IssueList, readObject, readString, show } from './reader';

const RULE_SET_KEYS = keysOf(RULE_SET_FIELDS);
const FORMATS: readonly RuleSetFormat[] = ['text', 'clash', 'sing-box'];
const BEHAVIORS: readonly ClashBehavior[] = ['domain', 'ipcidr', 'classical'];
/** The format a file's extension implies when `format` is left out. */
const FORMAT_BY_EXTENSION: Record<string, RuleSetFormat> = { txt: 'text', list: 'text', yaml: 'clash', yml: 'clash', json: 'sing-box' };

/**
 * Reads `route.rule_sets`. A missing file is a config error naming its key
 * (`route.rule_sets[0].path`), at start and on reload; the contents are
 * parsed when the router is built (`sluice check` builds it too), and a file
 * that does not parse is a config error there, under the same key.
 */
export function readRuleSets(v: unknown, baseDir: string, issues: IssueList): RuleSetConfig[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    issues.add('route.rule_sets', 'must be a list');
    return [];
  }
  const out: RuleSetConfig[] = [];
  const tags = new Set<string>();
  v.forEach((entry, i) => {
    const path = at('route.rule_sets', i);
    const obj = readObject(entry, path, RULE_SET_KEYS, issues);
    if (!obj) return;
    const before = issues.length;
    const tag = readString(obj, 'tag', path, issues);
    if (tag !== undefined) {
      if (tags.has(tag)) issues.add(at(path, 'tag'), `duplicate rule set tag "${tag}"`);
      tags.add(tag);
    }
    if (obj.type !== undefined && obj.type !== 'file') issues.add(at(path, 'type'), `must be "file" (got ${show(obj.type)})`);
    const file = readString(obj, 'path', path, issues);
    let format: RuleSetFormat | undefined;
    if (obj.format !== undefined) {
      if (FORMATS.includes(obj.format as RuleSetFormat)) format = obj.format as RuleSetFormat;
      else issues.add(at(path, 'format'), `must be one of ${FORMATS.join(', ')} (got ${show(obj.format)})`);
    } else if (file !== undefined) {
      format = FORMAT_BY_EXTENSION[/\.([^./]+)$/.exec(file)?.[1]?.toLowerCase() ?? ''];
      if (!format) issues.add(at(path, 'format'), `required (one of ${FORMATS.join(', ')}); the file's extension does not say`);
    }
    let behavior: ClashBehavior | undefined;
    if (obj.behavior !== undefined) {
      if (format !== undefined && format !== 'clash') issues.add(at(path, 'behavior'), 'only for format: clash');
      else if (BEHAVIORS.includes(obj.behavior as ClashBehavior)) behavior = obj.behavior as ClashBehavior;
      else issues.add(at(path, 'behavior'), `must be one of ${BEHAVIORS.join(', ')} (got ${show(obj.behavior)})`);
    } else if (format === 'clash') {
      issues.add(at(path, 'behavior'), `required for format: clash (one of ${BEHAVIORS.join(', ')})`);
    }
    if (issues.length !== before || tag === undefined || file === undefined || format === undefined) return;
    const config: RuleSetConfig = {
      tag,
      type: 'file',
      path: isAbsolute(file) ? file : resolve(baseDir, file),
      format,
      ...(behavior ? { behavior } : {}),
    };
    const problem = fileProblem(config.path);
    if (problem) {
      issues.add(at(path, 'path'), problem);
      return;
    }
    out.push(config);
  });
  return out;
}

function fileProblem(path: string): string | undefined {
  try {
    return statSync(path).isFile() ? undefined : `${path} is not a file`;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? `file not found: ${path}` : `cannot read ${path}: ${(err as Error).message}`;
  }
}
