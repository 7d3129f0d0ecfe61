import type { Logger } from 'pino';
import { parseConfig } from '../config/load';
import { validateConfigFile } from '../config';
import type { SluiceConfig } from '../config/types';
import type { ByteTotals, MetricsJson } from './agent';
import type { ClashConnection, ConnectionsSnapshot, RouteMode } from './clash-types';
import { GroupControlView } from './group-control-view';
import type { GroupControlPort } from './groups-view';
import { sumRuleHits } from './rule-hits';
import type { ClashRuleProvider } from './rule-providers';
import type { ControlOp } from './local-control';
import { LogTap } from './log-tap';
import { PoolLogSource, type PoolLogPort } from './pool-log-source';
import { labelProcessMetrics, ProcessMetrics } from './process-metrics';
import { ControlServer } from './server';
import type { ControlTarget } from './target';

/** What the control API needs of a worker pool: its group control, control operations run in its workers, and their log lines. */
export interface PoolPort extends GroupControlPort, PoolLogPort {
  /** Runs `op` in every worker (or the first) and gathers the answers; `workers[i]` is the index of the worker that gave `results[i]`. */
  control(op: ControlOp, arg?: Record<string, unknown>, opts?: { first?: boolean }): Promise<{ results: unknown[]; errors: string[]; workers: number[] }>;
  /** Has every worker re-read the config file. */
  reload(): Promise<void>;
  /** Threads share the pool's process (one RSS); processes each have their own. */
  readonly mode: 'thread' | 'process';
}

/**
 * {@link ControlTarget} of a worker pool: each call gathers from every
 * worker (connections, totals, metrics) or reaches all of them (close, mode,
 * log level, reload), so the API shows and drives the whole process.
 */
export class PoolTarget implements ControlTarget {
  private current: SluiceConfig;
  private routeMode: RouteMode = 'rule';
  private readonly own = new ProcessMetrics();

  constructor(
    private readonly pool: PoolPort,
    config: SluiceConfig,
    private readonly configPath: string,
    private readonly logger: Logger,
  ) {
    this.current = config;
  }

  config(): SluiceConfig {
    return this.current;
  }

  private async all(op: ControlOp, arg?: Record<string, unknown>): Promise<unknown[]> {
    const { results, errors } = await this.pool.control(op, arg);
    if (errors.length > 0 && results.length === 0) throw new Error(errors.join('; '));
    return results;
  }

  /** Runs `op` everywhere; any worker's failure fails the call (a mode or level must not differ between workers). */
  private async everywhere(op: ControlOp, arg: Record<string, unknown>): Promise<void> {
    const { errors } = await this.pool.control(op, arg);
    if (errors.length > 0) throw new Error(errors.join('; '));
  }

  async connections(): Promise<ConnectionsSnapshot> {
    const parts = (await this.all('connections')) as ConnectionsSnapshot[];
    const connections: ClashConnection[] = [];
    let uploadTotal = 0;
    let downloadTotal = 0;
    for (const p of parts) {
      connections.push(...p.connections);
      uploadTotal += p.uploadTotal;
      downloadTotal += p.downloadTotal;
    }
    return { uploadTotal, downloadTotal, connections };
  }

  async totals(): Promise<ByteTotals> {
    const parts = (await this.all('totals')) as ByteTotals[];
    return parts.reduce((a, b) => ({ up: a.up + b.up, down: a.down + b.down }), { up: 0, down: 0 });
  }

  async closeConnection(id: string): Promise<boolean> {
    // Flow ids carry their worker's pid and thread, but asking everyone costs one message each and never misses.
    return ((await this.all('close', { id })) as boolean[]).some(Boolean);
  }

  async closeAllConnections(): Promise<void> {
    await this.all('closeAll');
  }

  async ruleProviders(): Promise<ClashRuleProvider[]> {
    const { results, errors } = await this.pool.control('ruleProviders', {}, { first: true });
    if (results.length === 0) throw new Error(errors.join('; ') || 'no worker answered');
    return results[0] as ClashRuleProvider[];
  }

  async ruleHits(): Promise<Record<string, number>> {
    return sumRuleHits((await this.all('ruleHits')) as Record<string, number>[]);
  }

  async metrics(): Promise<MetricsJson[]> {
    return (await this.all('metrics')) as MetricsJson[];
  }

  async processMetrics(): Promise<MetricsJson[]> {
    const { results, workers } = await this.pool.control('processMetrics');
    const labelled = results.map((m, i) => labelProcessMetrics(m as MetricsJson, String(workers[i])));
    return [...labelled, labelProcessMetrics(await this.own.json(), 'pool')];
  }

  async memory(): Promise<number> {
    const own = process.memoryUsage().rss;
    // Worker threads live in this process: its RSS already holds them.
    if (this.pool.mode === 'thread') return own;
    const { results } = await this.pool.control('memory');
    return (results as number[]).reduce((a, b) => a + b, own);
  }

  async reload(payload?: string): Promise<void> {
    if (payload === undefined) {
      await this.pool.reload();
      await this.reloaded();
      return;
    }
    const next = parseConfig(payload, { baseDir: this.current.baseDir, format: 'yaml' });
    await this.everywhere('reload', { payload });
    this.current = { ...next, inbounds: this.current.inbounds, control: this.current.control, plugins: this.current.plugins };
  }

  /** The workers re-read the config file (SIGHUP): so does the API's copy. */
  async reloaded(): Promise<void> {
    this.current = await validateConfigFile(this.configPath);
  }

  get logLevel(): string {
    return this.logger.level;
  }

  async setLogLevel(level: string): Promise<void> {
    await this.everywhere('setLogLevel', { level });
    this.logger.level = level;
  }

  get mode(): RouteMode {
    return this.routeMode;
  }

  async setMode(mode: RouteMode, globalOutbound: string): Promise<void> {
    await this.everywhere('setMode', { mode, global: globalOutbound });
    this.routeMode = mode;
  }
}

/**
 * Serves the control API for a worker pool from the pool's own process.
 * `/logs` carries this process's lines and every worker's, which the
 * workers forward only while someone reads `/logs` (see {@link PoolLogSource}).
 */
export async function startPoolControl(pool: PoolPort, config: SluiceConfig, configPath: string, logger: Logger): Promise<PoolControl> {
  const control = config.control;
  if (!control) return { close: async () => undefined, reloaded: async () => undefined };
  const target = new PoolTarget(pool, config, configPath, logger);
  const groups = new GroupControlView(() => target.config().outbounds, pool);
  const tap = new LogTap(logger);
  const logs = new PoolLogSource(tap, pool);
  const server = new ControlServer({ config: control, target, groups, logs, logger: logger.child({ component: 'control' }) });
  await server.listen();
  return {
    close: async () => {
      await server.close();
      logs.close();
      tap.close();
    },
    reloaded: () => target.reloaded(),
  };
}

/** The control API of a pool, as {@link startPoolControl} returns it. */
export interface PoolControl {
  close(): Promise<void>;
  /** Call after the workers reloaded the config file, so the API describes what they run. */
  reloaded(): Promise<void>;
}
