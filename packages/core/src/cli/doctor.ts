import type { Command } from 'commander';
import { loadConfigFile } from '../config';
import { DOCTOR_CHECKS, exitCodeOf, formatOutcome, formatSummary, probeCheck, runChecks, systemContext } from '../doctor';
import { printError } from './report';

/**
 * Adds `sluice doctor -c FILE [--probe]`: checks the running system against
 * the config, one line per check (OK / WARN / FAIL, with the fix), and exits
 * with the worst result: 0 all OK, 1 a WARN, 2 a FAIL (also for a config that
 * does not parse).
 */
export function registerDoctor(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('doctor')
    .description('check this system against a config (kernel, sysctls, firewall, policy routing, listeners); exit 0 OK, 1 WARN, 2 FAIL')
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON)')
    .option('--probe', 'also send TCP and UDP from a throwaway namespace through a veth and see whether Sluice captures them')
    .action(async (opts: { config: string; probe?: boolean }) => {
      let ctx;
      try {
        // The core schema only: what only run would refuse is the `config` check's FAIL, after which the other checks still run.
        ctx = systemContext(await loadConfigFile(opts.config), opts.config);
      } catch (err) {
        printError(err);
        setExitCode(2);
        return;
      }
      const checks = opts.probe ? [...DOCTOR_CHECKS, probeCheck] : DOCTOR_CHECKS;
      // Printed as each finishes: the nft and probe checks take a moment.
      const outcomes = await runChecks(checks, ctx, (o) => process.stdout.write(formatOutcome(o)));
      process.stdout.write(formatSummary(outcomes));
      setExitCode(exitCodeOf(outcomes));
    });
}
