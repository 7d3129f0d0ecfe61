import { isDeepStrictEqual } from 'node:util';
import type { SluiceConfig } from '../config/types';

/** What a reload changed, as logged (`config reloaded`) and returned by `Sluice.reload()`. */
export interface ReloadSummary {
  readonly rules: { readonly before: number; readonly after: number; readonly added: number; readonly removed: number };
  readonly outbounds: { readonly added: readonly string[]; readonly removed: readonly string[]; readonly changed: readonly string[] };
  readonly final: { readonly before: string; readonly after: string };
  /** Top-level keys that changed but apply only at the next restart. */
  readonly restartNeeded: readonly string[];
}

/** Keys a running Sluice cannot change in place. */
const RESTART_KEYS = ['inbounds', 'timeouts', 'udp', 'limits', 'relay', 'workers', 'worker_mode', 'plugins', 'firewall', 'dns'] as const;

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

  const oldOut = new Map(before.outbounds.map((o) => [o.tag, o.raw]));
  const newOut = new Map(after.outbounds.map((o) => [o.tag, o.raw]));
  const outbounds = {
    added: [...newOut.keys()].filter((t) => !oldOut.has(t)),
    removed: [...oldOut.keys()].filter((t) => !newOut.has(t)),
    changed: [...newOut.keys()].filter((t) => oldOut.has(t) && !isDeepStrictEqual(oldOut.get(t), newOut.get(t))),
  };
  const restartNeeded = RESTART_KEYS.filter((k) => !isDeepStrictEqual(before[k], after[k]));
  return {
    rules: { before: oldRules.length, after: newRules.length, added, removed },
    outbounds,
    final: { before: before.route.final, after: after.route.final },
    restartNeeded,
  };
}
