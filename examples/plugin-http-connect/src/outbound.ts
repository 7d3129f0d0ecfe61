import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Destination, FlowContext, Network, Outbound } from '@sluice/core';
import { connectRequest, exchange } from './connect';
import * as errors from './errors';
import type { HttpConnectOptions } from './options';

/**
 * An HTTP CONNECT proxy as an outbound. The stream to the proxy is a TCP
 * connection of its own or, with `via`, whatever the `via` outbound's
 * `dialTcp` returns, so CONNECT over a SOCKS hop (or over a marked `direct`)
 * is plain composition. TCP only: CONNECT carries no datagrams.
 */
export class HttpConnectOutbound implements Outbound {
  readonly type = 'http-connect';
  readonly networks: readonly Network[] = ['tcp'];

  constructor(
    readonly tag: string,
    private readonly options: HttpConnectOptions,
    private readonly via?: Outbound,
  ) {}

  /** Reaches the proxy and has it CONNECT to `dst`, all within `connect_timeout_ms`. */
  async dialTcp(dst: Destination, ctx: FlowContext): Promise<Duplex> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(errors.connectTimeout()), this.options.connect_timeout_ms);
    const onAbort = (): void => deadline.abort(errors.aborted(ctx.signal.reason));
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });
    let stream: Duplex | undefined;
    try {
      stream = await settleBy(deadline.signal, this.openStream(ctx, deadline.signal));
      await exchange(stream, connectRequest(dst, this.options), deadline.signal);
      return stream;
    } catch (err) {
      stream?.destroy();
      throw errors.dialFailed(err);
    } finally {
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onAbort);
    }
  }

  /** Nothing to release: each flow's stream is closed by the relay. */
  async close(): Promise<void> {}

  private openStream(ctx: FlowContext, signal: AbortSignal): Promise<Duplex> {
    const { server, port } = this.options;
    if (this.via !== undefined) {
      // A name stays a name, so a SOCKS `via` lets its server resolve it.
      const target: Destination = net.isIP(server) ? { address: server, port } : { address: server, port, host: server };
      // Not `{ ...ctx, signal }`: core's context makes its logger in a getter, which a spread would drop.
      return this.via.dialTcp(target, { flow: ctx.flow, signal, get logger() { return ctx.logger; } });
    }
    return new Promise((resolve, reject) => {
      // Half-open, so the relay can pass on a FIN from either side; no Nagle delay on top of the client's.
      const sock = net.connect({ host: server, port, allowHalfOpen: true, noDelay: true });
      sock.once('error', reject).once('connect', () => resolve(sock.off('error', reject)));
      signal.addEventListener('abort', () => sock.connecting && sock.destroy(), { once: true });
    });
  }
}

/** `pending`, or the signal's reason if it fires first; a stream that comes too late is destroyed. */
function settleBy(signal: AbortSignal, pending: Promise<Duplex>): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    pending.then(
      (stream) => (signal.aborted ? stream.destroy() : resolve(stream)),
      (err: unknown) => reject(err),
    );
  });
}
