import type { SluiceConfig } from '../config/types';
import type { ByteTotals, MetricsJson } from './agent';
import type { ConnectionsSnapshot, RouteMode } from './clash-types';
import type { ClashRuleProvider } from './rule-providers';

/**
 * What the control server drives: one Sluice, or a worker pool (each call
 * then gathers from, or reaches, every worker). The server never touches a
 * Sluice directly, so the same routes serve both.
 */
export interface ControlTarget {
  /** The running config. */
  config(): SluiceConfig;
  /** Connections of every worker, totals summed. */
  connections(): Promise<ConnectionsSnapshot>;
  /** Byte totals of every worker (for `/traffic`): cheaper than {@link connections}. */
  totals(): Promise<ByteTotals>;
  /** Ends the flow `id` wherever it runs; false when no worker has it. */
  closeConnection(id: string): Promise<boolean>;
  closeAllConnections(): Promise<void>;
  /** `route.rule_sets` with the counts of the contents in use (a worker's: every worker loads the same files). */
  ruleProviders(): Promise<ClashRuleProvider[]>;
  /** Flows matched by each rule (by rule name: `rules[3]`, a rule's `name`, `final`), summed over the workers. */
  ruleHits(): Promise<Record<string, number>>;
  /** Flow metrics of every worker, to be summed. */
  metrics(): Promise<MetricsJson[]>;
  /**
   * Process metrics (CPU, memory, heap, fds…) of every process that serves,
   * each series labelled apart: a pool's with `worker="0"`, `"1"`… and
   * `"pool"`, a single Sluice's without a label.
   */
  processMetrics(): Promise<MetricsJson[]>;
  /** Resident memory of the whole Sluice in bytes: a pool's worker processes and its own. */
  memory(): Promise<number>;
  /**
   * Re-reads the config file (no argument) or applies `payload` (YAML or JSON
   * text); rejects, keeping the running config, when it is bad or would
   * change `plugins`.
   */
  reload(payload?: string): Promise<void>;
  setLogLevel(level: string): Promise<void>;
  /** The running log level (pino's name), which `PATCH /configs` may have changed. */
  readonly logLevel: string;
  readonly mode: RouteMode;
  /** `rule`, `global` (everything through `globalOutbound`) or `direct`; every worker follows. */
  setMode(mode: RouteMode, globalOutbound: string): Promise<void>;
}
