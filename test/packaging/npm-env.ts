import { runCommand, type CommandResult, type RunOptions } from '@sluice/testbed';

/**
 * The environment for a nested npm: without the `npm_*` variables of the
 * `npm test` that runs us, which npm would read as its own configuration
 * (workspace, prefix, omit…) and so install somewhere other than the empty folder.
 */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
}

/** Runs a command with {@link cleanEnv} (plus `opts.env`). */
export const runClean = (cmd: string, args: readonly string[], opts: RunOptions): Promise<CommandResult> =>
  runCommand(cmd, args, { ...opts, env: { ...cleanEnv(), ...opts.env } });
