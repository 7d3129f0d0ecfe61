import { accessSync, constants } from 'node:fs';
import * as path from 'node:path';
import { runCommand } from '../exec';

/** A command the demo runs, and the Debian package that provides it. */
export interface DemoTool {
  readonly command: string;
  readonly debianPackage: string;
}

/** What the demo runs besides node: `nft` for the rules, `ip` for namespaces and routes. */
export const DEMO_TOOLS: readonly DemoTool[] = [
  { command: 'nft', debianPackage: 'nftables' },
  { command: 'ip', debianPackage: 'iproute2' },
];

/** Runs a command (an absolute path) to completion with this environment; resolves with its exit code and output. */
export type DependencyCommandRunner = (
  file: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
) => Promise<{ readonly code: number | null; readonly output: string }>;

/** Options of {@link ensureDemoDependencies}; all default to this process's. */
export interface DemoDependencyOptions {
  /** Where commands are looked up (`PATH`); default `process.env.PATH`. */
  readonly path?: string;
  /** Whether packages may be installed; default: running as root. */
  readonly isRoot?: boolean;
  /** Runs `apt-get`; default: spawns it. */
  readonly run?: DependencyCommandRunner;
  /** Progress lines (stdout). */
  readonly say?: (text: string) => void;
  /** The reason it stopped (stderr). */
  readonly complain?: (text: string) => void;
}

const defaultRunner: DependencyCommandRunner = async (file, args, env) => {
  // apt-get update and an install may take minutes on a slow mirror.
  const r = await runCommand(file, args, { env, allowFailure: true, timeoutMs: 15 * 60_000 });
  return { code: r.code, output: `${r.stdout}${r.stderr}` };
};

/** The executable `command` in one of `searchPath`'s directories, or `undefined`. */
export function findCommand(command: string, searchPath: string): string | undefined {
  for (const dir of searchPath.split(':')) {
    if (!dir) continue;
    const candidate = path.join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; next directory.
    }
  }
  return undefined;
}

/**
 * The demo's dependency step: makes sure `nft` and `ip` are on the PATH. When
 * some are missing it installs their Debian packages with `apt-get` (saying
 * so, one line for the set), or stops with the exact command to run when it
 * cannot: not root, or no `apt-get`. Resolves with `0` when the demo can go
 * on, else with the exit code `1`.
 */
export async function ensureDemoDependencies(opts: DemoDependencyOptions = {}): Promise<number> {
  const searchPath = opts.path ?? process.env.PATH ?? '';
  const say = opts.say ?? ((t: string) => void process.stdout.write(t));
  const complain = opts.complain ?? ((t: string) => void process.stderr.write(t));
  const isRoot = opts.isRoot ?? process.getuid?.() === 0;
  const run = opts.run ?? defaultRunner;
  const missing = (): DemoTool[] => DEMO_TOOLS.filter((t) => findCommand(t.command, searchPath) === undefined);

  const needed = missing();
  if (needed.length === 0) return 0;
  const names = needed.map((t) => t.debianPackage);
  const packages = names.join(' ');
  const what = needed.map((t) => `\`${t.command}\` (Debian package ${t.debianPackage})`).join(' and ');
  const aptGet = findCommand('apt-get', searchPath);
  if (!aptGet) {
    complain(`sluice demo needs ${what}: install ${names.join(' and ')} with your package manager (apt-get install -y ${packages})\n`);
    return 1;
  }
  if (!isRoot) {
    complain(`sluice demo needs ${what}, and installing them takes root: run as root: sudo npx sluice demo\n`);
    return 1;
  }
  say(`sluice demo: installing ${packages} with apt-get…\n`);
  const env = { ...process.env, PATH: searchPath, DEBIAN_FRONTEND: 'noninteractive' };
  // A fresh system has no package lists yet: update first, or the install finds nothing.
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', ...names]]) {
    const r = await run(aptGet, args, env);
    if (r.code !== 0) {
      const tail = r.output.trim().split('\n').slice(-5).join('\n');
      complain(`sluice demo: apt-get ${args.join(' ')} failed (exit ${r.code})${tail ? `:\n${tail}` : ''}\nInstall them yourself: apt-get install -y ${packages}\n`);
      return 1;
    }
  }
  const still = missing();
  if (still.length > 0) {
    complain(
      `sluice demo: apt-get installed ${packages}, but ${still.map((t) => t.command).join(' and ')} ${still.length === 1 ? 'is' : 'are'} still not on the PATH (${searchPath}); ` +
        'add /usr/sbin to the PATH, or run the demo with sudo\n',
    );
    return 1;
  }
  return 0;
}
