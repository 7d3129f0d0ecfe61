import pino, { type Logger } from 'pino';

/** One log line as `GET /logs` sends it (mihomo's `{type, payload}`). */
export interface ClashLogLine {
  readonly type: 'debug' | 'info' | 'warning' | 'error';
  readonly payload: string;
}

/** Clash level names → the lowest pino level number each shows. */
export const CLASH_LEVELS: Readonly<Record<string, number>> = { debug: 20, info: 30, warning: 40, error: 50, silent: Infinity };

/** Clash / pino level name → pino level name, for `PATCH /configs {"log-level"}`. */
export function pinoLevelOf(level: string): string | undefined {
  const map: Record<string, string> = { debug: 'debug', info: 'info', warning: 'warn', warn: 'warn', error: 'error', silent: 'silent', trace: 'trace', fatal: 'fatal' };
  return map[level];
}

/** pino level name → Clash level name, for `GET /configs`. */
export function clashLevelOf(level: string): string {
  if (level === 'trace' || level === 'debug') return 'debug';
  if (level === 'warn') return 'warning';
  if (level === 'error' || level === 'fatal') return 'error';
  if (level === 'silent') return 'silent';
  return 'info';
}

const OMIT = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

/** A JSON log line as Clash shows it: the message, then the other fields; an access line reads like mihomo's. */
export function toClashLine(json: string): { level: number; line: ClashLogLine } | undefined {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const level = typeof o.level === 'number' ? o.level : (pino.levels.values[String(o.level)] ?? 30);
  const type: ClashLogLine['type'] = level >= 50 ? 'error' : level >= 40 ? 'warning' : level >= 30 ? 'info' : 'debug';
  let payload: string;
  if (o.msg === 'flow closed' && typeof o.network === 'string') {
    const dst = typeof o.host === 'string' ? `${o.host} (${String(o.dst)})` : String(o.dst);
    payload = `[${o.network.toUpperCase()}] ${String(o.src)} --> ${dst} match ${String(o.rule)} using ${String(o.outbound)}, up ${String(o.up)} down ${String(o.down)}${o.error ? `, error: ${String(o.error)}` : ''}`;
  } else {
    const rest: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) if (!OMIT.has(k)) rest[k] = v;
    const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
    payload = `${typeof o.msg === 'string' ? o.msg : ''}${extra}`;
  }
  return { level, line: { type, payload } };
}

/** Gets each line the logger writes, as written (JSON). */
export type LogSubscriber = (json: string) => void;

/** Where `GET /logs` takes its lines from: one process's {@link LogTap}, or a pool's lines from every worker. */
export interface LogSource {
  /** Calls `f` with each line at or above pino level number `minLevel` (every line without it); returns the unsubscribe. */
  subscribe(f: LogSubscriber, minLevel?: number): () => void;
}

const LEVEL_PREFIX = /^\{"level":(?:(\d+)|"([a-z]+)")/;

/**
 * The pino level number of a JSON line, read from its first field (pino
 * writes `level` first) without parsing the line; a line that does not start
 * so is parsed whole. Unknown or unreadable: 30 (info), as `toClashLine` does.
 */
export function lineLevel(json: string): number {
  const m = LEVEL_PREFIX.exec(json);
  if (m) return m[1] !== undefined ? Number(m[1]) : (pino.levels.values[m[2]!] ?? 30);
  return toClashLine(json)?.level ?? 30;
}

/**
 * Hears every line a pino logger (and its children) writes, by wrapping its
 * destination's `write`: lines still go where they went, unchanged. Costs one
 * set-size check per line while nobody listens.
 */
export class LogTap implements LogSource {
  private readonly subscribers = new Set<LogSubscriber>();
  private restore: (() => void) | undefined;

  constructor(logger: Logger) {
    const stream = (logger as unknown as Record<symbol, { write(s: string): unknown } | undefined>)[pino.symbols.streamSym];
    if (!stream || typeof stream.write !== 'function') return;
    const write = stream.write;
    const subscribers = this.subscribers;
    stream.write = function (this: unknown, s: string): unknown {
      const r = write.call(this, s);
      if (subscribers.size > 0) for (const f of subscribers) f(String(s));
      return r;
    };
    this.restore = () => void (stream.write = write);
  }

  subscribe(f: LogSubscriber, minLevel = 0): () => void {
    // Lines below the level are never handed on: the level is read from the line's prefix, not by parsing it.
    const g: LogSubscriber = minLevel <= 0 ? f : (json) => void (lineLevel(json) >= minLevel && f(json));
    this.subscribers.add(g);
    return () => void this.subscribers.delete(g);
  }

  /** Puts the destination's own `write` back. */
  close(): void {
    this.subscribers.clear();
    this.restore?.();
    this.restore = undefined;
  }
}
