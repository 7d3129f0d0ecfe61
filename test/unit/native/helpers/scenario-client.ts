import * as path from 'node:path';
import { run, ProcessResult } from './process';

/** A serialised error from a scenario (an Error's own fields). */
export interface ScenarioError {
  name: string;
  message: string;
  code?: string;
  errno?: number;
  syscall?: string;
}

const runner = path.join(__dirname, 'scenario-runner.js');

/**
 * Runs the named scenario of `scenarios.ts` in a child `node`, behind
 * `prefix` (for example `ip netns exec NAME` or a `setpriv` command line),
 * and returns what it printed as its result.
 */
export async function runScenario<T>(prefix: readonly string[], name: string, args: unknown = {}): Promise<T> {
  const outcome = await runScenarioRaw(prefix, name, args);
  const line = outcome.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (outcome.code !== 0 || line === undefined) {
    throw new Error(`scenario ${name} failed (exit ${outcome.code ?? outcome.signal}):\n${outcome.stdout}\n${outcome.stderr}`);
  }
  return JSON.parse(line.slice('RESULT '.length)) as T;
}

/** Like {@link runScenario}, but returns the raw process result (exit code, output). */
export function runScenarioRaw(prefix: readonly string[], name: string, args: unknown = {}): Promise<ProcessResult> {
  const command = [...prefix, process.execPath, runner, name, JSON.stringify(args)];
  return run(command[0], command.slice(1), { timeoutMs: 45_000 });
}
