import { EventEmitter, once } from 'node:events';

/** Resolves with the event's arguments, or rejects after `ms` naming what did not happen. */
export async function onceWithin<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, ms = 5_000): Promise<T> {
  const timeout = AbortSignal.timeout(ms);
  try {
    return (await once(emitter, event, { signal: timeout })) as T;
  } catch (err) {
    if (timeout.aborted) throw new Error(`no '${event}' event within ${ms} ms`);
    throw err;
  }
}

/** Polls `condition` every 10 ms until it holds, or rejects after `ms` with `what`. */
export async function until(condition: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Serialisable fields of an error (for scenario results). */
export function errorFields(err: unknown): { name: string; message: string; code?: string; errno?: number; syscall?: string } {
  const e = err as Error & { code?: string; errno?: number; syscall?: string };
  return { name: e.name, message: e.message, code: e.code, errno: e.errno, syscall: e.syscall };
}

/** Runs `fn` and returns the error it throws; fails when it does not throw. */
export function thrown(fn: () => unknown): ReturnType<typeof errorFields> {
  try {
    fn();
  } catch (err) {
    return errorFields(err);
  }
  throw new Error(`expected ${fn.toString()} to throw`);
}
