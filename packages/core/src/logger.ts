import pino, { type Logger } from 'pino';
import { createPrettyDestination, logFormatFromEnv, type LogFormat } from './logger-pretty';

/** Paths pino replaces with `[redacted]` wherever they appear in a log object. */
export const REDACT_PATHS = ['password', '*.password', 'username', '*.username', 'token', '*.token', 'secret', '*.secret', 'options.password', 'auth'];

/** Options of {@link createRootLogger}. */
export interface RootLoggerOptions {
  level: string;
  /** Where JSON lines go; stdout by default. */
  destination?: pino.DestinationStream;
  /** Without a destination: JSON lines, or pino-pretty's; default from `SLUICE_LOG_FORMAT` (JSON when unset). */
  format?: LogFormat;
}

/**
 * The single root logger. Components take `child({ component })`, flows take
 * `child({ flowId, … })`; credentials are redacted by path so a plugin that
 * logs its options cannot leak them.
 */
export function createRootLogger(opts: RootLoggerOptions): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level,
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  };
  // Async destination: logging on the flow path must not block on stdout.
  const format = opts.format ?? logFormatFromEnv();
  return pino(options, opts.destination ?? (format === 'pretty' ? createPrettyDestination() : pino.destination({ dest: 1, sync: false })));
}
