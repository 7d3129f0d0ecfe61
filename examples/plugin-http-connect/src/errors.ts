import { STATUS_CODES } from 'node:http';
import { ErrorCode, SluiceError, isErrnoError, isSluiceError } from '@sluice/core';

/*
 * Every failure is a SluiceError whose message is short, stable and safe for
 * the access log: no credentials, no bytes the proxy chose (a status's text
 * is Node's standard one, not the proxy's reason phrase).
 */

/** The proxy (with `via`: the whole chain to it) was not connected and answering within `connect_timeout_ms`. */
export const connectTimeout = (): SluiceError => new SluiceError(ErrorCode.DIAL_TIMEOUT, 'http-connect: connect timeout');

/**
 * The proxy answered, but not 2xx: 407 (or 401, which tinyproxy sends) is our
 * credentials, anything else its refusal to reach the target.
 */
export function refused(status: number): SluiceError {
  const text = STATUS_CODES[status];
  return new SluiceError(status === 407 || status === 401 ? ErrorCode.UPSTREAM : ErrorCode.DIAL, `http-connect: proxy answered ${status}${text ? ` ${text}` : ''}`);
}

/** The proxy's answer is not an HTTP response head we can read (`why` goes to debug logs only). */
export const malformed = (why: string): SluiceError =>
  new SluiceError(ErrorCode.UPSTREAM, 'http-connect: malformed response', { cause: new Error(why) });

/** The stream ended or failed before the response head was complete. */
export const closedEarly = (cause?: unknown): SluiceError =>
  new SluiceError(ErrorCode.UPSTREAM, 'http-connect: proxy closed the connection before answering', { cause });

/**
 * What any other failure becomes: a SluiceError (a `via`'s own, or core's
 * reason for aborting the flow) unchanged; a socket error names its errno.
 */
export function dialFailed(err: unknown): SluiceError {
  if (isSluiceError(err)) return err;
  const code = isErrnoError(err) ? err.code : 'error';
  return new SluiceError(ErrorCode.DIAL, `http-connect: connect to proxy failed (${code})`, { cause: err });
}

/** The flow was torn down before the dial finished: core's own reason when it gave a SluiceError. */
export function aborted(reason: unknown): SluiceError {
  return isSluiceError(reason) ? reason : new SluiceError(ErrorCode.DIAL, 'http-connect: dial aborted', { cause: reason });
}
