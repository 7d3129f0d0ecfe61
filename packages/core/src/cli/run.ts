import type { Command } from 'commander';
import { createSluice } from '../app/sluice';
import { validateOutbounds } from '../app/validate';
import { loadConfigFile } from '../config';
import { isNativeErrorLike, printError } from './report';

/** Adds `sluice run -c FILE`: run in the foreground until SIGINT/SIGTERM. */
export function registerRun(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('run')
    .description('run Sluice in the foreground with a config file')
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON)')
    .action(async (opts: { config: string }) => {
      let config;
      try {
        config = await loadConfigFile(opts.config);
        validateOutbounds(config);
      } catch (err) {
        printError(err);
        setExitCode(1);
        return;
      }
      const sluice = createSluice(config);
      try {
        await sluice.start();
      } catch (err) {
        sluice.logger.fatal({ err, code: isNativeErrorLike(err) ? err.code : undefined }, 'sluice failed to start');
        printError(err);
        sluice.logger.flush();
        setExitCode(1);
        return;
      }
      await new Promise<void>((resolve) => {
        let stopping = false;
        const onSignal = (signal: NodeJS.Signals): void => {
          if (stopping) {
            // A second signal means "now": skip the drain.
            sluice.logger.warn({ signal }, 'second signal, exiting without drain');
            sluice.logger.flush();
            process.exit(1);
          }
          stopping = true;
          sluice.logger.info({ signal }, 'signal received, stopping');
          sluice.stop().then(resolve, (err: unknown) => {
            sluice.logger.error({ err }, 'stop failed');
            resolve();
          });
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      });
      // Exit explicitly: a plugin's stray timer or pooled socket must not keep a stopped proxy alive.
      await new Promise<void>((resolve) => sluice.logger.flush(() => resolve()));
      process.exit(0);
    });
}
