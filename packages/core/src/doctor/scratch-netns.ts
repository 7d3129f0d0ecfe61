import type { CommandResult } from '../firewall/apply';
import type { DoctorContext } from './types';

/** A throwaway network namespace: commands run in it with `ip netns exec`. */
export interface ScratchNamespace {
  readonly name: string;
  /** Runs `argv` inside the namespace, with `input` on its stdin. */
  exec(argv: readonly string[], input?: string): Promise<CommandResult>;
}

/** Why a scratch namespace could not be made (no `ip`, no privilege…). */
export class ScratchNamespaceError extends Error {
  constructor(readonly namespace: string, readonly result: CommandResult) {
    super(`ip netns add ${namespace}: ${result.stderr.trim() || `exit ${result.code}`}`);
    this.name = 'ScratchNamespaceError';
  }
}

/**
 * Runs `fn` in a fresh network namespace `sluice-doctor-<pid>[-suffix]` and
 * deletes the namespace afterwards, whatever `fn` does. A fresh namespace has
 * an empty ruleset, so trying nft input there changes nothing on the host.
 *
 * @throws {ScratchNamespaceError} when the namespace cannot be created.
 */
export async function withScratchNamespace<T>(ctx: DoctorContext, suffix: string, fn: (ns: ScratchNamespace) => Promise<T>): Promise<T> {
  const name = `sluice-doctor-${ctx.pid}${suffix ? `-${suffix}` : ''}`;
  const add = await ctx.run(['ip', 'netns', 'add', name]);
  if (add.code !== 0) throw new ScratchNamespaceError(name, add);
  try {
    return await fn({ name, exec: (argv, input) => ctx.run(['ip', 'netns', 'exec', name, ...argv], input) });
  } finally {
    await ctx.run(['ip', 'netns', 'del', name]);
  }
}
