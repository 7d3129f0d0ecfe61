import { readFileSync } from 'node:fs';

/** A zombie counts as dead: it holds nothing, and in a container its reaper may never come. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Sends `signal` to `pid`, ignoring a process that is already gone. */
export function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * SIGTERM to every pid, then SIGKILL to whatever is still alive after
 * `graceMs`, so servers get the chance to log and close first.
 */
export async function terminateAll(pids: Iterable<number>, graceMs: number): Promise<void> {
  const all = [...pids];
  for (const pid of all) tryKill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (all.some(isAlive) && Date.now() < deadline) await delay(20);
  for (const pid of all) if (isAlive(pid)) tryKill(pid, 'SIGKILL');
}

/** Parses `ip netns pids` output: one pid per line. */
export function parsePids(text: string): number[] {
  return text
    .split(/\s+/)
    .map((s) => Number(s))
    .filter((p) => Number.isInteger(p) && p > 1);
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
