import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A parsed stdout line: the JSON object, or `{ text }` for a line that is not JSON. */
export type JsonLine = Readonly<Record<string, unknown>>;

/** How a watched child process ended. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/**
 * Collects a child process's stdout as JSON lines (pino logs, probe events)
 * and its stderr as text, and lets callers wait for a line with a bound.
 */
export class ChildWatch {
  readonly lines: JsonLine[] = [];
  stderr = '';
  /** Set once the process has exited. */
  exitStatus: ExitStatus | undefined;
  /** Resolves when the process exits (never rejects). */
  readonly exited: Promise<ExitStatus>;
  private readonly waiters = new Set<() => void>();

  constructor(readonly child: ChildProcess, readonly label: string) {
    if (child.stdout) {
      createInterface({ input: child.stdout }).on('line', (line) => {
        this.lines.push(parseLine(line));
        this.wake();
      });
    }
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      this.wake();
    });
    this.exited = new Promise((resolve) => {
      const finish = (status: ExitStatus): void => {
        this.exitStatus ??= status;
        this.wake();
        resolve(this.exitStatus);
      };
      // 'close' waits for stdio to drain, so every line is in `lines` when it fires.
      child.once('close', (code, signal) => finish({ code, signal }));
      child.once('error', () => finish({ code: null, signal: null }));
    });
  }

  /**
   * Resolves with the first line (past or future) for which `pred` holds.
   * Rejects if the process exits or `timeoutMs` passes first; the message
   * names `what` and ends with the process's recent output.
   */
  waitFor(pred: (line: JsonLine) => boolean, timeoutMs: number, what: string): Promise<JsonLine> {
    return this.waitUntil(() => this.lines.find(pred), timeoutMs, what);
  }

  /**
   * Resolves with the first non-undefined value of `probe`, re-evaluated on
   * every new line, stderr chunk or exit. Same failure rules as {@link waitFor}.
   */
  waitUntil<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const value = probe();
        if (value !== undefined) {
          done();
          resolve(value);
          return true;
        }
        if (this.exitStatus) {
          done();
          reject(new Error(`${this.label} exited (${formatExit(this.exitStatus)}) before ${what}\n${this.describe()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} from ${this.label}\n${this.describe()}`));
      }, timeoutMs);
      const waiter = (): void => void check();
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      if (!check()) this.waiters.add(waiter);
    });
  }

  /** Sends `signal` (if still running) and resolves with the exit status. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<ExitStatus> {
    if (!this.exitStatus) this.child.kill(signal);
    return this.exited;
  }

  /** The last `max` stdout lines and the end of stderr, for failure messages. */
  describe(max = 40): string {
    const out = this.lines.slice(-max).map((l) => JSON.stringify(l));
    const err = this.stderr.trim().split('\n').slice(-max).join('\n');
    return `--- ${this.label} stdout (last ${out.length} lines)\n${out.join('\n') || '(none)'}\n--- stderr\n${err || '(none)'}`;
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** `code 1` or `signal SIGTERM`. */
export function formatExit(s: ExitStatus): string {
  return s.signal ? `signal ${s.signal}` : `code ${s.code}`;
}

function parseLine(line: string): JsonLine {
  if (line.startsWith('{')) {
    try {
      const v = JSON.parse(line) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as JsonLine;
    } catch {
      // Not JSON after all; keep it as text.
    }
  }
  return { text: line };
}
