import type { Command } from 'commander';
import type { Logger } from 'pino';
import type { PoolControl } from '../control/pool-control';
import { createSluice } from '../runtime/sluice';
import { WorkerPool, resolveWorkerCount } from '../runtime/worker-pool';
import { checkConfigFile, logWarnings } from '../config';
import type { SluiceConfig } from '../config/types';
import { createRootLogger } from '../logger';
import { LOG_FORMAT_ENV, type LogFormat } from '../logger-pretty';
import { OffloadMonitor } from '../runtime/offload-monitor';
import { createServiceNotifier } from '../runtime/systemd-notify';
import { isNativeErrorLike, printError } from './report';
import { logStartupSummary } from './startup-summary';
import { guardTerminalAtExit } from './terminal-guard';

/** What `run` drives: one in-process Sluice, or a pool of worker threads. */
interface Runner {
  readonly logger: Logger;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Re-reads the config file (SIGHUP); rejects, keeping the running config, when it is not valid. */
  reload(): Promise<unknown>;
  /** Settles when the runner failed by itself (a worker pool that gave up); it has stopped then. */
  readonly failed?: Promise<Error>;
}

function parseWorkers(value: string): number | 'auto' {
  if (value === 'auto') return 'auto';
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error(`--workers: must be "auto" or a whole number from 1 to 256, not "${value}"`);
  return n;
}

/** A worker pool as a {@link Runner}; with `control` configured, this process serves the control API for all workers. */
function poolRunner(pool: WorkerPool, logger: Logger, config: SluiceConfig, configPath: string): Runner {
  let control: PoolControl | undefined;
  return {
    logger,
    failed: pool.failed,
    reload: async () => {
      await pool.reload();
      await control?.reloaded();
    },
    start: async () => {
      await pool.start();
      try {
        // Loaded only when configured: fastify and prom-client cost every start otherwise.
        if (config.control) control = await (await import('../control/pool-control')).startPoolControl(pool, config, configPath, logger);
      } catch (err) {
        await pool.stop(0);
        throw err;
      }
    },
    stop: async () => {
      await control?.close();
      await pool.stop();
    },
  };
}

/** `--log-format`, or the default: pretty for a person at a terminal, JSON lines for everything else (pipes, journald, tests). */
export function resolveLogFormat(value: string | undefined, stdoutIsTty: boolean): LogFormat {
  if (value === undefined) return stdoutIsTty ? 'pretty' : 'json';
  if (value !== 'json' && value !== 'pretty') throw new Error(`--log-format: must be "json" or "pretty", not "${value}"`);
  return value;
}

/** The `STATUS=` line systemd shows for a running Sluice. */
function serviceStatus(config: SluiceConfig): string {
  const n = config.inbounds.length;
  return `serving ${n} inbound${n === 1 ? '' : 's'}: ${config.inbounds.map((i) => `${i.tag}@${i.listen}:${i.port}`).join(', ')}`;
}

/** Adds `sluice run -c FILE`: run in the foreground until SIGINT/SIGTERM. */
export function registerRun(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('run')
    .description('run Sluice in the foreground with a config file')
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON)')
    .option('-w, --workers <n>', 'event loops (workers with SO_REUSEPORT listeners): a number or "auto"; overrides the config')
    .option('--worker-mode <mode>', 'workers as "process" (own open-file limit each) or "thread"; overrides the config')
    .option('--log-format <format>', '"pretty" (coloured lines) or "json" (JSON lines); default: pretty on a terminal, else json')
    .action(async (opts: { config: string; workers?: string; workerMode?: string; logFormat?: string }) => {
      let runner: Runner;
      let config: SluiceConfig;
      let format: LogFormat;
      try {
        format = resolveLogFormat(opts.logFormat, process.stdout.isTTY === true);
        // Every root logger of this run reads it, including those of worker threads and processes.
        process.env[LOG_FORMAT_ENV] = format;
        const checked = await checkConfigFile(opts.config);
        config = checked.config;
        const workers = resolveWorkerCount(opts.workers !== undefined ? parseWorkers(opts.workers) : config.workers);
        if (workers > 1) {
          const logger = createRootLogger({ level: config.log.level, format });
          // Workers do not announce, so the pool logs the warnings once; a single Sluice logs its own at start.
          logWarnings(logger, checked.warnings);
          const mode = opts.workerMode ?? config.worker_mode;
          if (mode !== 'process' && mode !== 'thread') throw new Error(`--worker-mode: must be "process" or "thread", not "${mode}"`);
          runner = poolRunner(new WorkerPool(opts.config, workers, logger, mode), logger, config, opts.config);
        } else {
          const sluice = createSluice(config);
          runner = { logger: sluice.logger, start: () => sluice.start(), stop: () => sluice.stop(), reload: () => sluice.reload(opts.config) };
        }
      } catch (err) {
        printError(err);
        setExitCode(1);
        return;
      }
      // Made before the workers start, so that they do not inherit NOTIFY_SOCKET: only this process speaks for the service.
      const notifier = createServiceNotifier({ logger: runner.logger });
      try {
        await runner.start();
      } catch (err) {
        runner.logger.fatal({ err, code: isNativeErrorLike(err) ? err.code : undefined }, 'sluice failed to start');
        printError(err);
        await notifier.notify({ STATUS: `failed to start: ${err instanceof Error ? err.message : String(err)}` });
        await new Promise<void>((resolve) => runner.logger.flush(() => resolve()));
        setExitCode(1);
        return;
      }
      // Sluice outlives a terminal that hangs up (SIGHUP reloads); its exit must not crash then.
      guardTerminalAtExit();
      // The signal handlers go in before anything announces readiness: a SIGTERM sent as soon as
      // the summary or READY=1 arrives must find them (Node's default would kill without a drain).
      const failure = new Promise<Error | undefined>((resolve) => {
        let stopping = false;
        runner.failed?.then((err) => {
          if (stopping) return;
          stopping = true;
          resolve(err);
        });
        const onSignal = (signal: NodeJS.Signals): void => {
          if (stopping) {
            // A second signal means "now": skip the drain.
            runner.logger.warn({ signal }, 'second signal, exiting without drain');
            runner.logger.flush();
            process.exit(1);
          }
          stopping = true;
          runner.logger.info({ signal }, 'signal received, stopping');
          void notifier.notify({ STOPPING: '1', STATUS: `stopping (${signal})` });
          runner.stop().then(
            () => resolve(undefined),
            (err: unknown) => {
              runner.logger.error({ err }, 'stop failed');
              resolve(undefined);
            },
          );
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        process.on('SIGHUP', () => {
          if (stopping) return;
          runner.logger.info({ signal: 'SIGHUP' }, 'reloading the config');
          // MONOTONIC_USEC lets a Type=notify-reload unit match this RELOADING=1 to its SIGHUP.
          void notifier.notify({ RELOADING: '1', STATUS: 'reloading the config', MONOTONIC_USEC: String(process.hrtime.bigint() / 1000n) });
          runner.reload().then(
            () => notifier.notify({ READY: '1', STATUS: serviceStatus(config) }),
            (err: unknown) => {
              runner.logger.error({ err, issues: (err as { issues?: unknown }).issues }, 'reload failed; the running config is kept');
              return notifier.notify({ READY: '1', STATUS: `reload failed, running the previous config: ${(err as Error).message}` });
            },
          );
        });
      });
      logStartupSummary(runner.logger, config, format);
      // Offloaded flows never reach Sluice: the kernel's counters are their only record.
      const offload = config.firewall.offload ? new OffloadMonitor(runner.logger) : undefined;
      await offload?.check();
      // A pool's start() resolves once every worker listens: one READY=1 for all of them.
      void notifier.notify({ READY: '1', STATUS: serviceStatus(config) });
      const failed = await failure;
      await offload?.logTotals();
      // Exit explicitly: a plugin's stray timer or pooled socket must not keep a stopped proxy alive.
      await notifier.notify({});
      await new Promise<void>((resolve) => runner.logger.flush(() => resolve()));
      if (failed) {
        printError(failed);
        process.exit(1);
      }
      process.exit(0);
    });
}
