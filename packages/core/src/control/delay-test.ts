import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { FlowMetadata } from '../adapter/flow';
import type { Outbound } from '../adapter/outbound';
import { DelayTimeoutError } from './groups-view';

/**
 * Times a plain-HTTP GET of `url` through `outbound`, as Clash's delay test
 * does: connect through the outbound, send the request, and stop the clock
 * at the first byte of the response. Only `http://` URLs (nothing to
 * decrypt). Rejects with {@link DelayTimeoutError} after `timeoutMs`, with
 * the dial's error otherwise.
 */
export async function httpDelay(outbound: Outbound, url: string, timeoutMs: number, logger: Logger): Promise<number> {
  const u = new URL(url);
  if (u.protocol !== 'http:') throw new Error(`delay test: only http:// URLs are supported (got ${u.protocol})`);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DelayTimeoutError()), timeoutMs);
  const started = performance.now();
  try {
    const name = u.hostname.replace(/^\[|\]$/g, '');
    const address = isIP(name) ? name : (await lookup(name)).address;
    const port = Number(u.port || 80);
    const flow: FlowMetadata = { id: 'delay-test', network: 'tcp', inbound: 'control', src: { address: '0.0.0.0', port: 0 }, dst: { address, port, ...(isIP(name) ? {} : { host: name }) } };
    const socket = await outbound.dialTcp(flow.dst, { flow, logger, signal: controller.signal });
    return await new Promise<number>((resolve, reject) => {
      const done = (err?: unknown): void => {
        socket.destroy();
        controller.signal.removeEventListener('abort', onAbort);
        if (err) reject(err instanceof Error ? err : new Error(String(err)));
        else resolve(Math.max(1, Math.round(performance.now() - started)));
      };
      const onAbort = (): void => done(controller.signal.reason);
      controller.signal.addEventListener('abort', onAbort);
      socket.once('data', () => done());
      socket.once('error', (err: Error) => done(err));
      socket.once('end', () => done(new Error('delay test: the server closed without answering')));
      socket.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUser-Agent: sluice\r\nConnection: close\r\n\r\n`);
    });
  } catch (err) {
    if (controller.signal.aborted) throw controller.signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
