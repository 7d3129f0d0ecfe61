import type { Command } from 'commander';
import type { Logger } from 'pino';
import { createSluice } from '../runtime/sluice';
import { WorkerPool, resolveWorkerCount } from '../runtime/worker-pool';
import { checkConfigFile, logWarnings } from '../config';
import { createRootLogger } from '../logger';
import { isNativeErrorLike, printError } from './report';

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

/** Adds `sluice run -c FILE`: run in the foreground until SIGINT/SIGTERM. */
export function registerRun(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('run')
    .description('run Sluice in the foreground with a config file')
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON)')
    .option('-w, --workers <n>', 'event loops (workers with SO_REUSEPORT listeners): a number or "auto"; overrides the config')
    .option('--worker-mode <mode>', 'workers as "process" (own open-file limit each) or "thread"; overrides the config')
    .action(async (opts: { config: string; workers?: string; workerMode?: string }) => {
      let runner: Runner;
      try {
        const { config, warnings } = await checkConfigFile(opts.config);
        const workers = resolveWorkerCount(opts.workers !== undefined ? parseWorkers(opts.workers) : config.workers);
        if (workers > 1) {
          const logger = createRootLogger({ level: config.log.level });
          // Workers do not announce, so the pool logs the warnings once; a single Sluice logs its own at start.
          logWarnings(logger, warnings);
          const mode = opts.workerMode ?? config.worker_mode;
          if (mode !== 'process' && mode !== 'thread') throw new Error(`--worker-mode: must be "process" or "thread", not "${mode}"`);
          runner = Object.assign(new WorkerPool(opts.config, workers, logger, mode), { logger });
        } else {
          const sluice = createSluice(config);
          runner = { logger: sluice.logger, start: () => sluice.start(), stop: () => sluice.stop(), reload: () => sluice.reload(opts.config) };
        }
      } catch (err) {
        printError(err);
        setExitCode(1);
        return;
      }
      try {
        await runner.start();
      } catch (err) {
        runner.logger.fatal({ err, code: isNativeErrorLike(err) ? err.code : undefined }, 'sluice failed to start');
        printError(err);
        await new Promise<void>((resolve) => runner.logger.flush(() => resolve()));
        setExitCode(1);
        return;
      }
      const failure = await new Promise<Error | undefined>((resolve) => {
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
          runner.reload().catch((err: unknown) => runner.logger.error({ err, issues: (err as { issues?: unknown }).issues }, 'reload failed; the running config is kept'));
        });
      });
      // Exit explicitly: a plugin's stray timer or pooled socket must not keep a stopped proxy alive.
      await new Promise<void>((resolve) => runner.logger.flush(() => resolve()));
      if (failure) {
        printError(failure);
        process.exit(1);
      }
      process.exit(0);
    });
}
