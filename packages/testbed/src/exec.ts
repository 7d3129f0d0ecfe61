import { spawn, type SpawnOptions } from 'node:child_process';

/** Outcome of a finished command. */
export interface CommandResult {
  /** Exit status, or `null` when a signal ended the process. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall-clock time from spawn to exit. */
  readonly durationMs: number;
}

/** Options for {@link runCommand}. */
export interface RunOptions {
  /** Written to stdin, which is then closed. Without it stdin is `/dev/null`. */
  readonly input?: string;
  /** Kill (SIGKILL) and reject after this long; default 30 s. */
  readonly timeoutMs?: number;
  /** Resolve instead of rejecting on a non-zero exit or a signal. */
  readonly allowFailure?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** A command that exited non-zero, was killed, or timed out; carries everything needed to debug it. */
export class CommandError extends Error {
  readonly result: CommandResult;
  readonly argv: readonly string[];
  constructor(argv: readonly string[], result: CommandResult, why: string) {
    const tail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-8).join('\n');
    super(`${formatArgv(argv)}: ${why}${tail ? `\n${tail}` : ''}`);
    this.name = 'CommandError';
    this.argv = argv;
    this.result = result;
  }
}

/** Runs a command to completion, collecting its output. Rejects with {@link CommandError} unless `allowFailure`. */
export function runCommand(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
  const argv = [cmd, ...args];
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const spawnOpts: SpawnOptions = {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: opts.env,
      cwd: opts.cwd,
    };
    const child = spawn(cmd, args, spawnOpts);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    if (opts.input !== undefined) {
      // EPIPE here means the command exited without reading; its exit status says why.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(opts.input);
    }
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${formatArgv(argv)}: ${err.message}`, { cause: err }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const result: CommandResult = { code, signal, stdout, stderr, durationMs: Date.now() - started };
      if (timedOut) reject(new CommandError(argv, result, `timed out after ${timeoutMs} ms`));
      else if (code !== 0 && !opts.allowFailure) {
        reject(new CommandError(argv, result, code === null ? `killed by ${signal}` : `exited with ${code}`));
      } else resolve(result);
    });
  });
}

/** Renders an argv for error messages, quoting only where a shell would need it. */
export function formatArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./[\]-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Splits a command line such as `ip -6 rule add fwmark 1 lookup 100` on whitespace; quotes are not supported. */
export function splitCommandLine(line: string): string[] {
  return line.trim().split(/\s+/).filter((w) => w.length > 0);
}
