import { execFile } from 'node:child_process';
import { constants, promises as fs, statSync } from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { validateConfigFile } from '../config';
import { printError } from './report';
import { needsLowPorts, renderServiceUnit, SERVICE_UNIT_PATH } from './service-unit';

/** The config `sluice install-service` uses when `-c` is not given. */
export const DEFAULT_SERVICE_CONFIG = '/etc/sluice/config.yaml';

/** Runs a command to completion; resolves with its exit code and stderr. */
export type ServiceCommandRunner = (argv: readonly string[]) => Promise<{ code: number; stderr: string }>;

const execRunner: ServiceCommandRunner = (argv) =>
  new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), (err, _stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 127) : 0;
      resolve({ code, stderr: stderr.trim() || (err?.message ?? '') });
    });
  });

/** The command that runs this very `sluice`: this node and this package's `bin/sluice.js`, both absolute. */
export function currentSluiceCommand(): string[] {
  return [process.execPath, path.resolve(__dirname, '../../bin/sluice.js')];
}

/**
 * The first reason the service's dynamic user (neither owner nor group) could
 * not read `file`: a directory on the way without `o+x`, or the file without
 * `o+r`. `undefined` when it can, or when `file` cannot be examined.
 */
export function unreadableByOthers(file: string): string | undefined {
  const absolute = path.resolve(file);
  const dirs: string[] = [];
  for (let d = path.dirname(absolute); ; d = path.dirname(d)) {
    dirs.unshift(d);
    if (d === path.dirname(d)) break;
  }
  try {
    for (const d of dirs) if ((statSync(d).mode & constants.S_IXOTH) === 0) return `${d} is not searchable by other users`;
    if ((statSync(absolute).mode & constants.S_IROTH) === 0) return `${absolute} is not readable by other users`;
  } catch {
    return undefined;
  }
  return undefined;
}

/** Options of {@link installService}. */
export interface InstallServiceOptions {
  /** The rendered unit. */
  readonly unit: string;
  /** Default {@link SERVICE_UNIT_PATH}. */
  readonly unitPath?: string;
  /** Runs `systemctl`; tests pass a fake. */
  readonly run?: ServiceCommandRunner;
  /** Progress lines. */
  readonly write: (line: string) => void;
}

/**
 * Writes the unit, then `systemctl daemon-reload` and `systemctl enable sluice`.
 * Resolves with the exit code: 1 when systemctl fails (the unit stays written,
 * and the message names the commands left to run).
 */
export async function installService(opts: InstallServiceOptions): Promise<number> {
  const unitPath = opts.unitPath ?? SERVICE_UNIT_PATH;
  const run = opts.run ?? execRunner;
  await fs.writeFile(unitPath, opts.unit, { mode: 0o644 });
  opts.write(`wrote ${unitPath}`);
  const name = path.basename(unitPath, '.service');
  for (const argv of [['systemctl', 'daemon-reload'], ['systemctl', 'enable', name]]) {
    const r = await run(argv);
    if (r.code !== 0) {
      opts.write(`${argv.join(' ')} failed (exit ${r.code}): ${r.stderr}`);
      opts.write(`the unit is written; once systemd runs, finish with: systemctl daemon-reload && systemctl enable --now ${name}`);
      return 1;
    }
    opts.write(argv.join(' '));
  }
  opts.write(`enabled; start it with: systemctl start ${name}   (logs: journalctl -u ${name})`);
  return 0;
}

/** Adds `sluice install-service [-c FILE] [--print]`: the systemd unit for a config, written and enabled, or printed. */
export function registerInstallService(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('install-service')
    .description(`write a systemd unit for a config to ${SERVICE_UNIT_PATH} and enable it (root), or print it`)
    .option('-c, --config <file>', 'config file (YAML or JSON)', DEFAULT_SERVICE_CONFIG)
    .option('--print', 'print the unit instead of writing and enabling it')
    .action(async (opts: { config: string; print?: boolean }) => {
      const configPath = path.resolve(opts.config);
      try {
        const config = await validateConfigFile(configPath);
        const sluice = currentSluiceCommand();
        const unit = renderServiceUnit({ configPath, sluice, bindLowPorts: needsLowPorts(config) });
        // The service runs as a dynamic user: a config or an install under /root would fail only at start.
        for (const file of [configPath, ...sluice]) {
          const why = unreadableByOthers(file);
          if (why) process.stderr.write(`sluice install-service: warning: ${why}; the service's unprivileged user cannot read ${file}\n`);
        }
        if (opts.print) {
          process.stdout.write(unit);
          setExitCode(0);
          return;
        }
        setExitCode(await installService({ unit, write: (line) => void process.stdout.write(`${line}\n`) }));
      } catch (err) {
        printError(err);
        setExitCode(1);
      }
    });
}
