import { ErrorCode, isErrnoError, SluiceError } from '../errors';

/**
 * The errnos a connected UDP socket reports when the remote (or a router on
 * the way) answered an earlier datagram with ICMP unreachable, and the words
 * the access log gives each: the same texts the native datagram path uses.
 */
const REFUSALS: ReadonlyMap<string, string> = new Map([
  ['ECONNREFUSED', 'port unreachable'],
  ['EHOSTUNREACH', 'host unreachable'],
  ['ENETUNREACH', 'network unreachable'],
]);

/**
 * For plugins whose `PacketChannel` sits on a connected UDP socket: when
 * `err` (from the socket's `error` event or a send callback) says the remote
 * refused the session's datagrams (ICMP port, host or network unreachable),
 * returns the `SLUICE_ERR_UPSTREAM` error to pass to
 * `PacketReceiver.onClose`, whose message, such as
 * `upstream: ECONNREFUSED (port unreachable)`, becomes the session's access-log
 * `error`; for any other error, `undefined` (a single datagram lost, not the
 * session's end).
 *
 * @example
 * socket.on('error', (err) => {
 *   const refusal = upstreamRefusal(err);
 *   if (refusal) { this.close(); receiver.onClose(refusal); }
 * });
 */
export function upstreamRefusal(err: unknown): SluiceError | undefined {
  if (!isErrnoError(err)) return undefined;
  const what = REFUSALS.get(err.code);
  if (what === undefined) return undefined;
  return new SluiceError(ErrorCode.UPSTREAM, `upstream: ${err.code} (${what})`, { cause: err });
}
