import type { Command } from 'commander';
import { stringify } from 'yaml';
import { checkConfigFile, redactConfig, toConfigDocument } from '../config';
import { describeOffload, planOffload } from '../firewall';
import { Router } from '../router';
import { printError, printWarnings } from './report';

/**
 * Adds `sluice check -c FILE [--print]`: validates without starting
 * anything, compiling the rules and loading the rule-set files as `run`
 * would. Exit 0 with a one-line summary followed by the compiled rules (one
 * indented line each, then `final`), or exit 1 with one `path: message`
 * line per problem on stderr. Warnings go to stderr as `warning: path:
 * message` lines and leave the exit code alone.
 */
export function registerCheck(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('check')
    .description('validate a config file without starting anything')
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON)')
    .option('--print', 'also print the normalised config (defaults filled in, secrets redacted)')
    .action(async (opts: { config: string; print?: boolean }) => {
      try {
        const { config, warnings } = await checkConfigFile(opts.config);
        // Parses the rule-set files: a file that does not parse is a config error here, as at start.
        const router = new Router(config.route);
        printWarnings(warnings);
        const summary = `config OK: ${config.inbounds.length} inbounds, ${config.outbounds.length} outbounds, ${config.route.rules.length} rules`;
        const rules = config.route.rules.length === 0 ? [] : router.toString().split('\n');
        // firewall.offload: which leading rules the kernel forwards by itself, and where that stops.
        rules.push(...describeOffload(planOffload(config)).map((l) => l.replace(/^# /, '')));
        if (opts.print) {
          // The summary and the rules as YAML comments keep the printed document loadable.
          process.stdout.write([`# ${summary}`, ...rules.map((r) => `#   ${r}`), ''].join('\n') + stringify(redactConfig(toConfigDocument(config))));
        } else {
          process.stdout.write([summary, ...rules.map((r) => `  ${r}`), ''].join('\n'));
        }
        setExitCode(0);
      } catch (err) {
        printError(err);
        setExitCode(1);
      }
    });
}
