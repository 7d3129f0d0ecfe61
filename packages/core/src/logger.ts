import pino, { type Logger } from 'pino';
import { isSecretKey, REDACTED } from './config/redact';
import { createPrettyDestination, logFormatFromEnv, type LogFormat } from './logger-pretty';

/** Options of {@link createRootLogger}. */
export interface RootLoggerOptions {
  level: string;
  /** Where JSON lines go; stdout by default. */
  destination?: pino.DestinationStream;
  /** Without a destination: JSON lines, or pino-pretty's; default from `SLUICE_LOG_FORMAT` (JSON when unset). */
  format?: LogFormat;
}

/** Plain objects, arrays and errors are walked; anything else (a socket, a Buffer) is left to pino as it is. */
function walkable(v: object): boolean {
  if (Array.isArray(v) || v instanceof Error) return true;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A shallow copy that keeps an error an error (prototype, message and stack), for pino's `err` serializer. */
function shallowCopy(v: object): Record<string, unknown> {
  if (Array.isArray(v)) return [...v] as unknown as Record<string, unknown>;
  if (v instanceof Error) return Object.create(Object.getPrototypeOf(v) as object, Object.getOwnPropertyDescriptors(v)) as Record<string, unknown>;
  return { ...v } as Record<string, unknown>;
}

/** `ancestors`: the objects being walked above `v`; meeting one again is a cycle, printed as pino would print it. */
function censor(v: unknown, ancestors: Set<object>): unknown {
  if (typeof v !== 'object' || v === null || !walkable(v)) return v;
  if (ancestors.has(v)) return '[Circular]';
  ancestors.add(v);
  const obj = v as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  const keys = Object.keys(obj);
  // An error's cause is not enumerable, but pino's serializer prints it.
  if (v instanceof Error && v.cause !== undefined) keys.push('cause');
  for (const k of keys) {
    const x = obj[k];
    const y = isSecretKey(k) && x !== null && x !== undefined ? REDACTED : censor(x, ancestors);
    if (y !== x) (out ??= shallowCopy(v))[k] = y;
  }
  ancestors.delete(v);
  return out ?? v;
}

/**
 * `value` with every secret-looking key (the config printer's list,
 * {@link isSecretKey}) censored to `[redacted]`, at any depth, inside errors
 * too. Copies only what it changes; returns `value` itself when nothing is
 * secret.
 */
export function censorSecrets<T>(value: T): T {
  return censor(value, new Set()) as T;
}

const identity = <T>(o: T): T => o;

/**
 * The single root logger. Components take `child({ component })`, flows take
 * `child({ flowId, … })`. Secrets are censored by key name at any depth, in
 * each line's object and in child bindings, so a plugin that logs its options
 * cannot leak them. A child made with `redact: []` opts out: the access-log
 * line (flow/access-log.ts) has fixed, non-secret keys and is written on
 * every flow, so it skips the walk.
 */
export function createRootLogger(opts: RootLoggerOptions): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level,
    base: { pid: process.pid },
    formatters: { level: (label) => ({ level: label }), log: censorSecrets },
  };
  // Async destination: logging on the flow path must not block on stdout.
  const format = opts.format ?? logFormatFromEnv();
  const root = pino(options, opts.destination ?? (format === 'pretty' ? createPrettyDestination() : pino.destination({ dest: 1, sync: false })));
  type ChildFn = (this: Logger, bindings: pino.Bindings, options?: pino.ChildLoggerOptions) => Logger;
  const child = root.child as unknown as ChildFn;
  // Every logger below the root inherits this (pino children are prototype-chained), so bindings are censored too.
  const censoredChild: ChildFn = function (bindings, childOptions) {
    const optOut = Array.isArray(childOptions?.redact) && childOptions.redact.length === 0;
    const o = optOut ? { ...childOptions, formatters: { ...childOptions?.formatters, log: identity } } : childOptions;
    return child.call(this, censorSecrets(bindings), o);
  };
  root.child = censoredChild as unknown as typeof root.child;
  return root;
}
