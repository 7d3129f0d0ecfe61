import { isDeepStrictEqual } from 'node:util';
import type { SluiceConfig } from '../config/types';

/** What a reload changed, as logged (`config reloaded`) and returned by `Sluice.reload()`. */
export interface ReloadSummary {
  readonly rules: { readonly before: number; readonly after: number; readonly added: number; readonly removed: number };
  readonly outbounds: { readonly added: readonly string[]; readonly removed: readonly string[]; readonly changed: readonly string[] };
  /**
   * Rule sets by tag: `changed` when the entry (path, format, behavior) differs.
   * Every rule set is read again from its file on reload, so edited contents
   * apply whether listed here or not.
   */
  readonly ruleSets: { readonly added: readonly string[]; readonly removed: readonly string[]; readonly changed: readonly string[] };
  readonly final: { readonly before: string; readonly after: string };
  /** Top-level keys that changed but apply only at the next restart. */
  readonly restartNeeded: readonly string[];
}

/** Keys a running Sluice cannot change in place. */
const RESTART_KEYS = ['inbounds', 'timeouts', 'udp', 'limits', 'relay', 'workers', 'worker_mode', 'plugins', 'firewall', 'control', 'dns'] as const;

/** Compares two configs for the reload log line. */
export function describeReload(before: SluiceConfig, after: SluiceConfig): ReloadSummary {
  const oldRules = before.route.rules.map((r) => JSON.stringify(r));
  const newRules = after.route.rules.map((r) => JSON.stringify(r));
  const counts = new Map<string, number>();
  for (const r of oldRules) counts.set(r, (counts.get(r) ?? 0) + 1);
  let added = 0;
  for (const r of newRules) {
    const n = counts.get(r) ?? 0;
    if (n > 0) counts.set(r, n - 1);
    else added++;
  }
  const removed = [...counts.values()].reduce((a, b) => a + b, 0);

  const outbounds = diffByTag(
    before.outbounds.map((o) => ({ tag: o.tag, v: o.raw })),
    after.outbounds.map((o) => ({ tag: o.tag, v: o.raw })),
  );
  const ruleSets = diffByTag(before.route.rule_sets, after.route.rule_sets);
  const restartNeeded = RESTART_KEYS.filter((k) => !isDeepStrictEqual(before[k], after[k]));
  return {
    rules: { before: oldRules.length, after: newRules.length, added, removed },
    outbounds,
    ruleSets,
    final: { before: before.route.final, after: after.route.final },
    restartNeeded,
  };
}

/** Tags added, removed, and present in both with different contents. */
function diffByTag(before: readonly { tag: string }[], after: readonly { tag: string }[]): { added: string[]; removed: string[]; changed: string[] } {
  const oldByTag = new Map(before.map((o) => [o.tag, o]));
  const newByTag = new Map(after.map((o) => [o.tag, o]));
  return {
    added: [...newByTag.keys()].filter((t) => !oldByTag.has(t)),
    removed: [...oldByTag.keys()].filter((t) => !newByTag.has(t)),
    changed: [...newByTag.keys()].filter((t) => oldByTag.has(t) && !isDeepStrictEqual(oldByTag.get(t), newByTag.get(t))),
  };
}
