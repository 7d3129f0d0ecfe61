import { spawn } from 'node:child_process';
import type { RenderedFirewall } from './render';

/** What a finished command left behind. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one command without a shell; `input` goes to its stdin. Injectable so tests can script failures. */
export type CommandRunner = (argv: readonly string[], input?: string) => Promise<CommandResult>;

/** Runs commands with `child_process.spawn`; a missing binary yields code 127, like a shell. */
export const spawnRunner: CommandRunner = (argv, input) =>
  new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => resolve({ code: 127, stdout, stderr: `${argv[0]}: ${err.message}` }));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });

/** A firewall command that failed for a reason other than "already there" / "already gone". */
export class FirewallCommandError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
  ) {
    super(`${command}: ${stderr.trim() || 'failed'}`);
    this.name = 'FirewallCommandError';
  }
}

// The commands are rendered from validated numbers and fixed words, so splitting on spaces is exact.
const argvOf = (command: string): string[] => command.split(' ');

/**
 * Loads the ruleset with one `nft -f -` (atomic: all of it or none), then
 * adds policy routing. Safe to repeat: the ruleset replaces itself, and routes
 * or rules that already exist are left alone. On a failure after the ruleset
 * loaded, everything is removed again so no half-configured capture remains.
 *
 * @returns one line per step for the user.
 * @throws {FirewallCommandError} naming the command that failed.
 */
export async function applyFirewall(fw: RenderedFirewall, run: CommandRunner = spawnRunner): Promise<string[]> {
  const log: string[] = [];
  const nft = await run(['nft', '-f', '-'], fw.nft);
  if (nft.code !== 0) throw new FirewallCommandError('nft -f -', nft.stderr);
  log.push('nft: loaded table inet sluice');
  try {
    for (const command of fw.up) {
      const argv = argvOf(command);
      const ruleAdd = argv.indexOf('rule') + 1;
      if (ruleAdd > 0 && argv[ruleAdd] === 'add') {
        // `ip rule add` happily adds a duplicate (the kernel picks a new priority), so look first.
        // Looked up without `protocol`: a rule another tool installed counts too (and is not ours to remove).
        const list = argv.slice();
        list[ruleAdd] = 'list';
        const proto = list.indexOf('protocol');
        if (proto > 0) list.splice(proto, 2);
        const existing = await run(list);
        if (existing.code === 0 && existing.stdout.trim() !== '') {
          log.push(`${command}: already present`);
          continue;
        }
      }
      const r = await run(argv);
      if (r.code === 0) log.push(command);
      else if (/File exists/i.test(r.stderr)) log.push(`${command}: already present`);
      else throw new FirewallCommandError(command, r.stderr);
    }
  } catch (err) {
    await removeFirewall(fw, run).catch(() => undefined);
    throw err;
  }
  return log;
}

/**
 * Undoes {@link applyFirewall}: deletes the table (which stops all capture at
 * once), then the policy routing Sluice added (rules and routes carrying its
 * protocol number; one another tool installed is left alone). What is already gone is skipped, so it is
 * safe to run twice; other failures are collected and thrown at the end,
 * after every step was tried.
 *
 * @throws {FirewallCommandError} for the first step that failed.
 */
export async function removeFirewall(fw: RenderedFirewall, run: CommandRunner = spawnRunner): Promise<string[]> {
  const log: string[] = [];
  const failures: FirewallCommandError[] = [];
  for (const command of fw.down) {
    const r = await run(argvOf(command));
    if (r.code === 0) log.push(command);
    // ip rule/nft say "No such file or directory", ip route says "No such process".
    else if (/No such file or directory|No such process/i.test(r.stderr)) log.push(`${command}: already absent`);
    else failures.push(new FirewallCommandError(command, r.stderr));
  }
  if (failures.length > 0) throw failures[0];
  return log;
}
