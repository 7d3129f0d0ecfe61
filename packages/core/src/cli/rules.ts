import type { Command } from 'commander';
import { validateConfigFile } from '../config';
import type { SluiceConfig } from '../config/types';
import { applyFirewall, removeFirewall, renderFirewall, type RenderedFirewall } from '../firewall';
import { printError } from './report';

/**
 * What `sluice rules` prints: the nft ruleset, then the `ip` commands, then
 * the removal commands as comments. Every line is either nft input, a shell
 * command, or a comment for both, so users can copy it piecewise.
 */
export function formatRules(file: string, config: SluiceConfig, fw: RenderedFirewall): string {
  return [
    `# sluice rules for ${file}`,
    `# Apply: sluice rules -c ${file} --apply   (or load the ruleset with nft -f, then run the ip commands)`,
    fw.nft.trimEnd(),
    // Redirect-only configs need no policy routing: nat delivers to a local address by itself.
    ...(fw.up.length > 0
      ? ['', `# Policy routing: packets marked 0x${config.firewall.fwmark.toString(16)} are delivered locally (table ${config.firewall.table}), to the TPROXY socket.`, ...fw.up]
      : []),
    '',
    `# Remove: sluice rules -c ${file} --remove   (or run:)`,
    ...fw.down.map((c) => `#   ${c}`),
    '',
  ].join('\n');
}

/**
 * Adds `sluice rules -c FILE [--apply | --remove]`: prints the nftables
 * ruleset and policy routing for a config, or applies / removes them.
 */
export function registerRules(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('rules')
    .description('print (or apply / remove) the nftables ruleset and policy routing for a config')
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON)')
    .option('--apply', 'load the ruleset (atomically, with nft -f) and add the policy routing')
    .option('--remove', 'remove the table and the policy routing that --apply added')
    .action(async (opts: { config: string; apply?: boolean; remove?: boolean }) => {
      if (opts.apply && opts.remove) {
        process.stderr.write('sluice rules: --apply and --remove are mutually exclusive\n');
        setExitCode(1);
        return;
      }
      let config: SluiceConfig;
      try {
        config = await validateConfigFile(opts.config);
      } catch (err) {
        printError(err);
        setExitCode(1);
        return;
      }
      const fw = renderFirewall(config);
      if (!opts.apply && !opts.remove) {
        process.stdout.write(formatRules(opts.config, config, fw));
        setExitCode(0);
        return;
      }
      try {
        const steps = opts.apply ? await applyFirewall(fw) : await removeFirewall(fw);
        for (const step of steps) process.stdout.write(`${step}\n`);
        setExitCode(0);
      } catch (err) {
        printError(err);
        setExitCode(1);
      }
    });
}
