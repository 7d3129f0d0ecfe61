import type { DestinationStream } from 'pino';
import pinoPretty from 'pino-pretty';

/** How the root logger writes: JSON lines (for machines and log shippers) or pino-pretty's coloured lines (for a terminal). */
export type LogFormat = 'json' | 'pretty';

/** Environment variable that carries the log format to worker processes and threads (and that users may set). */
export const LOG_FORMAT_ENV = 'SLUICE_LOG_FORMAT';

/** The format in {@link LOG_FORMAT_ENV}; JSON when unset or unknown, so embedders and pipes keep the JSON contract. */
export function logFormatFromEnv(env: NodeJS.ProcessEnv = process.env): LogFormat {
  return env[LOG_FORMAT_ENV] === 'pretty' ? 'pretty' : 'json';
}

/**
 * A pino destination that renders each line with pino-pretty on stdout:
 * local time, level, the component and message, then the other fields on
 * the same line; colours when stdout is a terminal. `pid` is left out: one
 * process's lines are all alike. Writes are
 * synchronous: this is for a person at a terminal, where a line lost at exit
 * costs more than a blocked write.
 */
export function createPrettyDestination(): DestinationStream {
  return pinoPretty({
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,component',
    messageFormat: '{if component}{component}: {end}{msg}',
    singleLine: true,
    destination: 1,
    sync: true,
  });
}
