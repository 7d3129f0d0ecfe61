import { ErrorCode, SluiceError, isErrnoError, isSluiceError } from '@sluice/core';

/*
 * Every failure of this plugin is a SluiceError whose message is short, stable
 * and safe to put in the access log: no credentials, no raw upstream bytes.
 * Details for debugging go into `cause`, which only debug logs print.
 */

const detail = (text: string): Error => new Error(text);

/** The server (or the hop before it) could not be reached in `connect_timeout_ms`. */
export const connectTimeout = (): SluiceError => new SluiceError(ErrorCode.DIAL_TIMEOUT, 'socks: connect timeout');

/** Connected, but the SOCKS exchange did not finish in `handshake_timeout_ms`. */
export const handshakeTimeout = (): SluiceError => new SluiceError(ErrorCode.DIAL_TIMEOUT, 'socks: handshake timeout');

/** The server refused our credentials (or offered no method we can use). */
export const authRejected = (why: string): SluiceError =>
  new SluiceError(ErrorCode.UPSTREAM, 'socks: auth rejected', { cause: detail(why) });

/** The stream ended (or failed) before the server's reply was complete. */
export const closedDuringHandshake = (cause?: unknown): SluiceError =>
  new SluiceError(ErrorCode.UPSTREAM, 'socks: upstream closed during handshake', { cause });

/** The server answered something that is not SOCKS. `why` says what, for debug logs. */
export const malformedReply = (why: string): SluiceError =>
  new SluiceError(ErrorCode.UPSTREAM, 'socks: malformed reply', { cause: detail(why) });

const SOCKS5_REPLIES: Record<number, string> = {
  1: 'general server failure',
  2: 'connection not allowed by ruleset',
  3: 'network unreachable',
  4: 'host unreachable',
  5: 'connection refused',
  6: 'TTL expired',
  7: 'command not supported',
  8: 'address type not supported',
};

/** A SOCKS5 reply other than "succeeded": the server could not do what we asked. */
export function socks5ReplyError(rep: number): SluiceError {
  return new SluiceError(ErrorCode.DIAL, `socks: ${SOCKS5_REPLIES[rep] ?? 'unknown failure'} (reply ${rep})`);
}

const SOCKS4_REPLIES: Record<number, string> = {
  91: 'request rejected or failed',
  92: 'rejected, identd unreachable',
  93: 'rejected, identd user mismatch',
};

/** A SOCKS4 reply other than 90 ("granted"). */
export function socks4ReplyError(cd: number): SluiceError {
  return new SluiceError(ErrorCode.DIAL, `socks: ${SOCKS4_REPLIES[cd] ?? 'unknown failure'} (socks4 reply ${cd})`);
}

/** The TCP connection to the server itself failed (refused, no route, DNS…). */
export function connectFailed(cause: unknown): SluiceError {
  const code = isErrnoError(cause) ? cause.code : 'error';
  return new SluiceError(ErrorCode.DIAL, `socks: connect to server failed (${code})`, { cause });
}

/** The UDP relay the server named (or the server itself, for a wildcard reply) has no address here. */
export function relayUnresolved(host: string, cause: unknown): SluiceError {
  if (isSluiceError(cause)) return cause;
  const code = isErrnoError(cause) ? cause.code : 'error';
  return new SluiceError(ErrorCode.DIAL, `socks: cannot resolve UDP relay "${host}" (${code})`, { cause });
}

/** A destination this SOCKS version cannot express (IPv6 over SOCKS4, a name over plain SOCKS4). */
export const unsupportedDestination = (why: string): SluiceError => new SluiceError(ErrorCode.DIAL, `socks: ${why}`);

/**
 * The flow was torn down before the dial finished. Prefers the signal's own
 * reason when core put a SluiceError there (shutdown, client gone).
 */
export function aborted(signal: AbortSignal): SluiceError {
  return isSluiceError(signal.reason) ? signal.reason : new SluiceError(ErrorCode.DIAL, 'socks: dial aborted', { cause: signal.reason });
}

/**
 * What a failed `via` dial becomes: its SluiceError unchanged (hop1's own
 * `socks: connect timeout`, say); an errno error, which means the via could
 * not reach our server, as {@link connectFailed}; anything else a dial error
 * naming the hop.
 */
export function fromVia(via: string, err: unknown): SluiceError {
  // A via that wrapped a socket error (direct does) failed to reach our server: say so in SOCKS terms.
  if (isSluiceError(err) && isErrnoError(err.cause) && !isSluiceError(err.cause)) return connectFailed(err.cause);
  if (isSluiceError(err)) return err;
  if (isErrnoError(err)) return connectFailed(err);
  return new SluiceError(ErrorCode.DIAL, `socks: via "${via}" failed`, { cause: err });
}
