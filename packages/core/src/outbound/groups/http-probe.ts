import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Destination, FlowContext, FlowMetadata } from '../../adapter/flow';
import type { Outbound } from '../../adapter/outbound';
import { describeError } from '../../errors';
import type { DelayResult } from './group-state';

/** The status line must come within this many bytes; anything longer is not an HTTP server. */
const MAX_STATUS_LINE = 1024;
let probes = 0;

/**
 * Requests `url` (plain `http://`) through `outbound`: dials the URL's host
 * and port with `dialTcp`, sends `GET path HTTP/1.1` with `Host` and
 * `Connection: close`, and measures the time from the dial until the status
 * line arrived. Any status counts as success: the member carried the
 * request. Never rejects; `signal` (the group closing) and `timeoutMs` end it.
 */
export function probeHttp(outbound: Outbound, url: string, timeoutMs: number, logger: Logger, signal?: AbortSignal): Promise<DelayResult> {
  let u: URL;
  try {
    u = new URL(url);
    if (u.protocol !== 'http:') throw new Error(`${u.protocol} is not supported (a plain http:// URL)`);
  } catch (err) {
    return Promise.resolve({ ok: false, timeout: false, error: describeError(err) });
  }
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port === '' ? 80 : Number(u.port);
  // A name goes as the host (SOCKS sends it, direct resolves it), as a chain does with a named server.
  const dst: Destination = isIP(host) ? { address: host, port } : { address: host, port, host };
  const timeout = AbortSignal.timeout(timeoutMs);
  const ctx = probeContext(dst, logger, signal ? AbortSignal.any([signal, timeout]) : timeout);
  const started = performance.now();
  let stream: Duplex | undefined;
  const request = `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUser-Agent: sluice-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n`;
  const run = async (): Promise<number> => {
    stream = await outbound.dialTcp(dst, ctx);
    return await readStatusLine(stream, request, ctx.signal, started);
  };
  return run().then(
    (delayMs): DelayResult => ({ ok: true, delayMs }),
    (err: unknown): DelayResult => ({ ok: false, timeout: timeout.aborted, error: timeout.aborted ? `timeout after ${timeoutMs} ms` : describeError(err) }),
  ).finally(() => {
    // Our listeners are gone by now; a late reset must not become an uncaught 'error'.
    stream?.on('error', () => undefined).destroy();
  });
}

/** Writes `request` and resolves with the milliseconds since `started` once a status line (`HTTP/1.x NNN`) arrived. */
function readStatusLine(stream: Duplex, request: string, signal: AbortSignal, started: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let head = '';
    const done = (err?: Error, ms?: number): void => {
      stream.off('data', onData);
      stream.off('error', onError);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(ms!);
    };
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      const eol = head.indexOf('\r\n');
      if (eol < 0) {
        if (head.length > MAX_STATUS_LINE) done(new Error('no HTTP status line in the reply'));
        return;
      }
      const ms = Math.max(1, Math.round(performance.now() - started));
      if (/^HTTP\/1\.[01] \d{3}/.test(head.slice(0, eol))) done(undefined, ms);
      else done(new Error(`not an HTTP reply: ${JSON.stringify(head.slice(0, Math.min(eol, 40)))}`));
    };
    const onError = (err: Error): void => done(err);
    const onEnd = (): void => done(new Error('connection closed before the HTTP status line'));
    const onAbort = (): void => done(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal.aborted) return onAbort();
    stream.on('data', onData);
    stream.on('error', onError);
    stream.on('end', onEnd);
    stream.on('close', onEnd);
    signal.addEventListener('abort', onAbort, { once: true });
    stream.resume();
    stream.write(request);
  });
}

function probeContext(dst: Destination, logger: Logger, signal: AbortSignal): FlowContext {
  const flow: FlowMetadata = { id: `check-${(++probes).toString(36)}`, network: 'tcp', inbound: 'health-check', src: { address: '0.0.0.0', port: 0 }, dst };
  return { flow, logger, signal };
}
