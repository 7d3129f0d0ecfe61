import type { Duplex } from 'node:stream';
import { formatEndpoint, type Destination } from '@sluice/core';
import * as errors from './errors';
import { isHostOrIp } from './options';

/** The most a proxy's response head (status line, headers, blank line) may take, in bytes. */
export const MAX_RESPONSE_HEAD = 16 * 1024;

/** Basic-auth credentials for `Proxy-Authorization`. */
export interface ProxyCredentials {
  readonly username?: string;
  readonly password?: string;
}

/**
 * `CONNECT host:port HTTP/1.1` for `dst`: its host name when one is known
 * (and safe to put on a request line), else its IP, IPv6 in brackets.
 */
export function connectRequest(dst: Destination, auth: ProxyCredentials = {}): string {
  const host = dst.host !== undefined && isHostOrIp(dst.host) ? dst.host : dst.address;
  const target = formatEndpoint({ address: host, port: dst.port });
  const lines = [`CONNECT ${target} HTTP/1.1`, `Host: ${target}`];
  if (auth.username !== undefined && auth.password !== undefined) {
    lines.push(`Proxy-Authorization: Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * Sends `request` and reads the proxy's response head. Resolves on a 2xx with
 * the stream paused and the bytes that followed the head unshifted, so the
 * relay gets exactly the target's bytes. Rejects on another status, a head
 * over {@link MAX_RESPONSE_HEAD}, the stream ending first, or `signal`
 * (with its reason); the caller destroys the stream then.
 */
export function exchange(stream: Duplex, request: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    const finish = (err?: unknown, rest?: Buffer): void => {
      // Paused before the listener goes, or a flowing stream would drop bytes until the relay takes it.
      stream.pause();
      stream.off('data', onData).off('error', onError).off('end', onClosed).off('close', onClosed);
      signal.removeEventListener('abort', onAbort);
      if (err !== undefined) return reject(err);
      if (rest !== undefined && rest.length > 0) stream.unshift(rest);
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1 ? head.length > MAX_RESPONSE_HEAD : end + 4 > MAX_RESPONSE_HEAD) {
        return finish(errors.malformed(`response head over ${MAX_RESPONSE_HEAD} bytes`));
      }
      if (end === -1) return;
      const statusLine = head.toString('latin1', 0, head.indexOf('\r\n'));
      const status = /^HTTP\/1\.[01] ([1-5]\d\d)(?: |$)/.exec(statusLine);
      if (status === null) return finish(errors.malformed(`status line ${JSON.stringify(statusLine.slice(0, 80))}`));
      const code = Number(status[1]);
      finish(code >= 200 && code < 300 ? undefined : errors.refused(code), head.subarray(end + 4));
    };
    const onError = (err: unknown): void => finish(errors.closedEarly(err));
    const onClosed = (): void => finish(errors.closedEarly());
    const onAbort = (): void => finish(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    stream.on('data', onData).once('error', onError).once('end', onClosed).once('close', onClosed);
    stream.write(request);
  });
}
