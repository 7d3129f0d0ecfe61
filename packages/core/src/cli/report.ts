import { formatWarning } from '../config/check';
import { isConfigError, type ConfigIssue } from '../errors';

/** Errors from the native module carry an errno name. */
export function isNativeErrorLike(err: unknown): err is Error & { code: string; syscall?: string } {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string';
}

/** Prints an error for a person on stderr: one line per config issue, or the message. */
export function printError(err: unknown): void {
  if (isConfigError(err)) {
    for (const i of err.issues) process.stderr.write(`${i.path ? `${i.path}: ` : ''}${i.message}\n`);
    return;
  }
  const code = isNativeErrorLike(err) ? ` (${err.code})` : '';
  process.stderr.write(`sluice: ${err instanceof Error ? err.message : String(err)}${code}\n`);
}

/** Prints config warnings on stderr, one `warning: path: message` line each; they do not change the exit code. */
export function printWarnings(warnings: readonly ConfigIssue[]): void {
  for (const w of warnings) process.stderr.write(`${formatWarning(w)}\n`);
}
