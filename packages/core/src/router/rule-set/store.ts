import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import type { RuleSetConfig } from '../../config/types';
import { ConfigError, type ConfigIssue } from '../../errors';
import type { CompiledRuleSet } from './compiled-rule-set';
import { loadRuleSetFile, RuleSetFileError } from './load';
import type { RuleSetLookup, RuleSetRef } from './rule-set-ref';

/** Options of {@link RuleSetStore.load}. */
export interface RuleSetStoreOptions {
  /** Watch the files and reload them when they change; default false. */
  readonly watch?: boolean;
  /** Where reloads and reload failures are logged (needed with `watch`). */
  readonly logger?: Logger;
  /** How long a file must be quiet before it is reloaded (ms), so an editor's several writes make one reload; default 200. */
  readonly debounceMs?: number;
  /** Called after a rule set's contents were replaced. */
  readonly onReload?: (tag: string, set: CompiledRuleSet) => void;
}

class Entry implements RuleSetRef {
  timer: NodeJS.Timeout | undefined;
  constructor(
    readonly config: RuleSetConfig,
    public current: CompiledRuleSet,
  ) {}
  get tag(): string {
    return this.config.tag;
  }
}

/**
 * The rule sets of one config, by tag. With `watch`, each file's directory is
 * watched (an editor that saves by writing a new file and renaming it over
 * the old one replaces the directory entry, which a watch on the file itself
 * would miss); a change is reloaded after a quiet period. A file that no
 * longer parses, or has gone, keeps the previous contents and logs an error
 * with `rule_set`, `path` and `error`. New contents apply to flows routed
 * afterwards; flows already routed keep their decision.
 */
export class RuleSetStore implements RuleSetLookup {
  private readonly entries = new Map<string, Entry>();
  private readonly watchers: FSWatcher[] = [];
  private closed = false;

  private constructor(private readonly opts: RuleSetStoreOptions) {}

  /**
   * Loads every file now (`configs` is `route.rule_sets`, in order).
   *
   * @throws {ConfigError} with one `route.rule_sets[i].path` issue per file that cannot be loaded.
   */
  static load(configs: readonly RuleSetConfig[], opts: RuleSetStoreOptions = {}): RuleSetStore {
    const store = new RuleSetStore(opts);
    const issues: ConfigIssue[] = [];
    configs.forEach((c, i) => {
      try {
        store.entries.set(c.tag, new Entry(c, loadRuleSetFile(c)));
      } catch (err) {
        if (!(err instanceof RuleSetFileError)) throw err;
        issues.push({ path: `route.rule_sets[${i}].path`, message: err.message });
      }
    });
    if (issues.length > 0) throw new ConfigError(issues);
    if (opts.watch) store.watch();
    return store;
  }

  /** The rule set named `tag`. */
  get(tag: string): RuleSetRef | undefined {
    return this.entries.get(tag);
  }

  /** Tags, in config order. */
  get tags(): string[] {
    return [...this.entries.keys()];
  }

  /**
   * Re-reads one rule set's file now; returns whether its contents changed.
   * A file that cannot be loaded leaves the contents as they were and is
   * logged (what a watch event does after its quiet period).
   */
  reload(tag: string): boolean {
    const e = this.entries.get(tag);
    if (!e || this.closed) return false;
    const { path } = e.config;
    let set: CompiledRuleSet;
    try {
      set = loadRuleSetFile(e.config);
    } catch (err) {
      if (!(err instanceof RuleSetFileError)) throw err;
      this.opts.logger?.error({ rule_set: tag, path, error: err.message }, 'rule set not reloaded; keeping its previous contents');
      return false;
    }
    if (set === e.current) return false;
    e.current = set;
    this.opts.logger?.info({ rule_set: tag, path, entries: set.size }, 'rule set reloaded');
    this.opts.onReload?.(tag, set);
    return true;
  }

  /** Stops watching; the contents stay usable. */
  close(): void {
    this.closed = true;
    for (const w of this.watchers) w.close();
    this.watchers.length = 0;
    for (const e of this.entries.values()) clearTimeout(e.timer);
  }

  private watch(): void {
    const byDir = new Map<string, Entry[]>();
    for (const e of this.entries.values()) {
      const dir = dirname(e.config.path);
      byDir.set(dir, [...(byDir.get(dir) ?? []), e]);
    }
    const quietMs = this.opts.debounceMs ?? 200;
    for (const [dir, entries] of byDir) {
      let w: FSWatcher;
      try {
        // Not persistent: watching alone must not keep a process alive.
        w = watch(dir, { persistent: false });
      } catch (err) {
        for (const e of entries) this.opts.logger?.error({ rule_set: e.tag, path: e.config.path, error: (err as Error).message }, 'cannot watch the rule set; changes need a reload');
        continue;
      }
      w.on('change', (_event, filename) => {
        const name = filename?.toString();
        for (const e of entries) {
          // Some platforms do not say which file changed: then every set in the directory is checked.
          if (name !== undefined && name !== basename(e.config.path)) continue;
          clearTimeout(e.timer);
          e.timer = setTimeout(() => {
            e.timer = undefined;
            this.reload(e.tag);
          }, quietMs);
          e.timer.unref();
        }
      });
      w.on('error', (err) => {
        for (const e of entries) this.opts.logger?.error({ rule_set: e.tag, path: e.config.path, error: err.message }, 'rule set watch failed; changes need a reload');
      });
      this.watchers.push(w);
    }
  }
}
