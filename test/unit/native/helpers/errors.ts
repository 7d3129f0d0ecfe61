// Waiting lives in test/helpers/wait.ts (waitFor, onceWithin); these are the native tests' error helpers.

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
