import { readFileSync, statSync } from 'node:fs';
import type { ClashBehavior, RuleSetConfig, RuleSetFormat } from '../../config/types';
import { CompiledRuleSet, type RuleSetContents } from './compiled-rule-set';
import { parseClashRuleSet } from './formats/clash';
import { parseSingBoxRuleSet } from './formats/sing-box';
import { parseTextRuleSet } from './formats/text';
import { RuleSetParseError } from './parse-error';

/** A rule-set file that cannot be used: missing, unreadable, or not in its format. The message names the file. */
export class RuleSetFileError extends Error {
  override readonly name = 'RuleSetFileError';
}

/**
 * Parses rule-set text in one of the formats.
 *
 * @throws {RuleSetParseError} naming the bad line or entry.
 */
export function parseRuleSet(text: string, format: RuleSetFormat, behavior: ClashBehavior = 'classical'): CompiledRuleSet {
  let contents: RuleSetContents;
  if (format === 'text') contents = parseTextRuleSet(text);
  else if (format === 'clash') contents = parseClashRuleSet(text, behavior);
  else contents = parseSingBoxRuleSet(text);
  return new CompiledRuleSet(contents);
}

/**
 * The last file compiled per path, with what identified it, so that the
 * config check, the router and a watcher event for an unchanged file compile
 * it once.
 */
const cache = new Map<string, { key: string; set: CompiledRuleSet }>();

/**
 * Reads and compiles a rule-set file (synchronously: at start and on reload
 * the router needs it before the first flow).
 *
 * @throws {RuleSetFileError} when the file is missing, unreadable or does not parse.
 */
export function loadRuleSetFile(c: Pick<RuleSetConfig, 'path' | 'format' | 'behavior'>): CompiledRuleSet {
  let key: string;
  let text: string;
  try {
    const st = statSync(c.path);
    if (!st.isFile()) throw new RuleSetFileError(`${c.path} is not a file`);
    key = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}:${c.format}:${c.behavior ?? ''}`;
    const hit = cache.get(c.path);
    if (hit?.key === key) return hit.set;
    text = readFileSync(c.path, 'utf8');
  } catch (err) {
    if (err instanceof RuleSetFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new RuleSetFileError(code === 'ENOENT' ? `file not found: ${c.path}` : `cannot read ${c.path}: ${(err as Error).message}`);
  }
  let set: CompiledRuleSet;
  try {
    set = parseRuleSet(text, c.format, c.behavior);
  } catch (err) {
    if (err instanceof RuleSetParseError) throw new RuleSetFileError(`${c.path}: ${err.message}`);
    throw err;
  }
  cache.set(c.path, { key, set });
  return set;
}
