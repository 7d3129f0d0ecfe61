import { EventEmitter, once } from 'node:events';

/** Options for {@link waitFor}. */
export interface WaitOptions {
  /** Give up after this long; default 5 s. */
  readonly timeoutMs?: number;
  /** Poll period; default 25 ms. */
  readonly intervalMs?: number;
}

/**
 * Polls `probe` until it returns something other than `undefined`/`false`
 * (or stops throwing) and resolves with that value. On timeout, rejects with
 * `what` and the last value or error seen, so a failure says what never happened.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  opts: WaitOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${detail})`);
    }
    await delay(opts.intervalMs ?? 25);
  }
}

/**
 * Resolves with the arguments of `emitter`'s next `event`, or rejects after
 * `ms` naming what did not happen: the event-driven counterpart of
 * {@link waitFor}, for emitters that say when something happens.
 */
export async function onceWithin<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, ms = 5_000): Promise<T> {
  const timeout = AbortSignal.timeout(ms);
  try {
    return (await once(emitter, event, { signal: timeout })) as T;
  } catch (err) {
    if (timeout.aborted) throw new Error(`no '${event}' event within ${ms} ms`);
    throw err;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
