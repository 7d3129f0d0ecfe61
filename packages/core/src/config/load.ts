import { readFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { isAlias, isCollection, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { ConfigError } from '../errors';
import type { SluiceConfig } from './types';
import { normalizeConfig } from './normalize';

/** Options of {@link parseConfig}. */
export interface ParseConfigOptions {
  /** Only changes how errors are worded: JSON is parsed as the YAML it also is. */
  readonly format?: 'yaml' | 'json';
  /** Directory that relative paths in the config are resolved against. */
  readonly baseDir: string;
}

/**
 * Parses a YAML or JSON document into a plain value. Syntax errors become
 * {@link ConfigError} issues with line and column; errors found while building
 * the value (unresolved or excessive aliases) a ConfigError without a position.
 */
export function parseDocumentText(text: string, format: 'yaml' | 'json' = 'yaml'): unknown {
  const lineCounter = new LineCounter();
  // YAML 1.2 core schema: `0x2` is the number 2, and `yes`/`on` stay strings. `logLevel: 'error'`: the library
  // never prints to the console; what it would warn about that matters is an issue here (structureIssues).
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true, schema: 'core', logLevel: 'error' });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return { path: '', message: `${format.toUpperCase()} syntax error at line ${line}, column ${col}: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  const structural = structureIssues(doc, lineCounter, format);
  if (structural.length > 0) throw new ConfigError(structural);
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // Some problems surface only when the value is built: an alias before its anchor, an alias bomb.
    throw new ConfigError([{ path: '', message: `${format.toUpperCase()} error: ${(err as Error).message.split('\n')[0]}` }]);
  }
}

/**
 * What YAML allows and a config cannot hold, each an issue with its position:
 * map keys that are maps or lists (`? [a, b]: 1`, or an alias of one), which
 * a JavaScript object could only hold stringified (the yaml library would
 * warn on the console); and an alias inside the node its anchor names
 * (`a: &x [*x]`), which makes a value that contains itself, so checking it
 * would never end.
 */
function structureIssues(doc: Document, lineCounter: LineCounter, format: 'yaml' | 'json'): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  const issue = (node: unknown, problem: string): void => {
    const at = (node as { range?: [number, number, number] }).range?.[0] ?? 0;
    const { line, col } = lineCounter.linePos(at);
    issues.push({ path: '', message: `${format.toUpperCase()} error at line ${line}, column ${col}: ${problem}` });
  };
  visit(doc, {
    Pair(_, pair) {
      const key = isAlias(pair.key) ? pair.key.resolve(doc) : pair.key;
      if (isCollection(key)) issue(pair.key, 'a key must be a single value, not a map or a list');
    },
    Alias(_, alias, path) {
      const target = alias.resolve(doc);
      if (target !== undefined && path.includes(target)) issue(alias, `alias *${alias.source} is inside the node it refers to`);
    },
  });
  return issues;
}

/**
 * Parses and validates config text, filling in every default.
 *
 * @throws {ConfigError} listing every problem (syntax, unknown keys, bad values, dangling references).
 */
export function parseConfig(text: string, opts: ParseConfigOptions): SluiceConfig {
  return normalizeConfig(parseDocumentText(text, opts.format), opts.baseDir);
}

/** `json` for `.json` files, `yaml` for everything else. */
export function formatOf(path: string): 'yaml' | 'json' {
  return extname(path).toLowerCase() === '.json' ? 'json' : 'yaml';
}

/**
 * Reads, parses and validates a config file; relative paths in it resolve
 * against the file's directory.
 *
 * @throws {ConfigError} when the file cannot be read or is not a valid config.
 */
export async function loadConfigFile(path: string): Promise<SluiceConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new ConfigError([{ path: '', message: `cannot read config file ${path}: ${reason}` }]);
  }
  return parseConfig(text, { format: formatOf(path), baseDir: dirname(resolve(path)) });
}
