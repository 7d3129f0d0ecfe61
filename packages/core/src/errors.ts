/** Stable error codes. Each is part of the public API: match on `code`, never on message text. */
export const ErrorCode = {
  CONFIG: 'SLUICE_ERR_CONFIG',
  PLUGIN: 'SLUICE_ERR_PLUGIN',
  DIAL: 'SLUICE_ERR_DIAL',
  DIAL_TIMEOUT: 'SLUICE_ERR_DIAL_TIMEOUT',
  IDLE_TIMEOUT: 'SLUICE_ERR_IDLE_TIMEOUT',
  BLOCKED: 'SLUICE_ERR_BLOCKED',
  LOOP: 'SLUICE_ERR_LOOP',
  UNSUPPORTED_NETWORK: 'SLUICE_ERR_UNSUPPORTED_NETWORK',
  UPSTREAM: 'SLUICE_ERR_UPSTREAM',
  SHUTDOWN: 'SLUICE_ERR_SHUTDOWN',
  INBOUND: 'SLUICE_ERR_INBOUND',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const kSluiceError = Symbol.for('sluice.error');

/**
 * Base of every error Sluice raises on purpose. Branded with `Symbol.for` so
 * {@link isSluiceError} works across duplicate copies of the package.
 */
export class SluiceError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'SluiceError';
    Object.defineProperty(this, kSluiceError, { value: true });
  }
}

/** True for any {@link SluiceError}, whichever copy of the package made it. */
export function isSluiceError(err: unknown): err is SluiceError {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[kSluiceError] === true;
}

/** One problem in a config, at a key path such as `inbounds[0].port`. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

const kConfigError = Symbol.for('sluice.error.config');

/** A config that cannot be used; `issues` lists every problem found, not just the first. */
export class ConfigError extends SluiceError {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(ErrorCode.CONFIG, issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
    Object.defineProperty(this, kConfigError, { value: true });
  }
}

/**
 * True for any {@link ConfigError}, whichever copy of the package made it (a
 * plugin may bring its own `@sluice/core`): checks the `Symbol.for` brand,
 * never `instanceof`.
 */
export function isConfigError(err: unknown): err is ConfigError {
  return isSluiceError(err) && (err as unknown as Record<symbol, unknown>)[kConfigError] === true && Array.isArray((err as ConfigError).issues);
}

/** True when `err` is a system error carrying an errno `code` such as `ECONNREFUSED`. */
export function isErrnoError(err: unknown): err is NodeJS.ErrnoException & { code: string } {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
}

/** Short, stable text for the access log's `error` field. */
export function describeError(err: unknown): string {
  if (isSluiceError(err)) return err.message;
  if (isErrnoError(err)) return `${err.code}${err.message && !err.message.startsWith(err.code) ? `: ${err.message}` : ''}`;
  return err instanceof Error ? err.message : String(err);
}
