import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

/** A log line as JSON. */
export type LogLine = Record<string, unknown>;

/** A pino logger whose lines are kept in memory, parsed. */
export interface CapturedLogger {
  readonly logger: Logger;
  /** Every line written so far, in order. */
  readonly lines: LogLine[];
}

/**
 * A pino logger at `level` (default `debug`) writing synchronously into
 * `lines`: pass it to `createSluice(config, { logger })` or to the harness
 * and assert on what was logged.
 */
export function captureLogger(level = 'debug'): CapturedLogger {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
      callback();
    },
  });
  return { logger: pino({ level, formatters: { level: (label) => ({ level: label }) } }, sink), lines };
}
