import * as os from 'node:os';
import type { NativeError } from '@sluice/native';

/** A `NativeError` (from `@sluice/native`) as the addon would throw it, so code under test takes its real error paths. */
export function mockNativeError(code: string, syscall: string, message: string): NativeError {
  const errno = (os.constants.errno as Record<string, number | undefined>)[code] ?? 0;
  return Object.assign(new Error(`${syscall}: ${message} (mock binding)`), { code, errno, syscall });
}

/** Turns a Node socket error (`ECONNREFUSED`…) into the addon's error shape. */
export function fromNodeError(err: NodeJS.ErrnoException, syscall: string): NativeError {
  const code = err.code ?? 'EIO';
  const e = mockNativeError(code, syscall, err.message);
  e.message = err.message;
  return e;
}
