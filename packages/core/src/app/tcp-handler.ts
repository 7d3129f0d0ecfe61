import type * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { FlowMetadata } from '../adapter/flow';
import { ErrorCode, SluiceError, isErrnoError, isSluiceError } from '../errors';
import type { NativeBinding } from '@sluice/native';
import { spliceRelay } from '../relay/splice-relay';
import { relayTcp, type TcpRelay } from '../relay/tcp-relay';
import { unmapAddress } from '../util/endpoint';
import { logFlowClosed } from './access-log';
import type { Dispatcher } from './dispatcher';
import { FlowContextImpl, nextFlowId } from './flow-context';
import type { LoopGuard } from './loop-guard';

/** Settings of {@link TcpFlowHandler}. */
export interface TcpHandlerOptions {
  readonly connectTimeoutMs: number;
  readonly idleMs: number;
  /** When set, flows between two plain sockets are relayed in the kernel by this binding's splice relay. */
  readonly splice?: NativeBinding;
}

/** Short, stable text for the access log's `error` field. */
export function describeError(err: unknown): string {
  if (isSluiceError(err)) return err.message;
  if (isErrnoError(err)) return `${err.code}${err.message && !err.message.startsWith(err.code) ? `: ${err.message}` : ''}`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * One TCP flow's state. A class rather than closures so that, once a relay
 * owns the sockets, the flow keeps nothing but what its access-log line needs:
 * an idle spliced flow must not pin two destroyed `net.Socket`s and an
 * AbortController in memory.
 */
class TcpFlow {
  readonly startedAt = Date.now();
  rule = '';
  outbound = '';
  ctx: FlowContextImpl | undefined;
  client: net.Socket | undefined;
  relay: TcpRelay | undefined;

  constructor(
    readonly flow: FlowMetadata,
    client: net.Socket,
    logger: Logger,
  ) {
    this.client = client;
    this.ctx = new FlowContextImpl(flow, logger);
  }

  /** Until the relay owns the client, a client that goes away must abort the dial. */
  readonly onEarlyClose = (): void => {
    this.ctx?.controller.abort(new SluiceError(ErrorCode.SHUTDOWN, 'client closed before the upstream connected'));
  };
}

/**
 * Carries accepted TPROXY connections: route, dial with a timeout, relay,
 * write the access-log line. Keeps the set of live flows for shutdown.
 */
export class TcpFlowHandler {
  private readonly live = new Set<TcpFlow>();

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly loopGuard: LoopGuard,
    private readonly logger: Logger,
    private readonly opts: TcpHandlerOptions,
  ) {}

  /** Number of flows in progress. */
  get size(): number {
    return this.live.size;
  }

  /** Takes ownership of an accepted socket whose local address is the original destination. */
  handle(client: net.Socket, inbound: string): void {
    const flow: FlowMetadata = {
      id: nextFlowId(),
      network: 'tcp',
      inbound,
      src: { address: unmapAddress(client.remoteAddress ?? ''), port: client.remotePort ?? 0 },
      dst: { address: unmapAddress(client.localAddress ?? ''), port: client.localPort ?? 0 },
    };
    const f = new TcpFlow(flow, client, this.logger);
    this.live.add(f);
    client.on('error', ignore);
    client.once('close', f.onEarlyClose);

    if (this.loopGuard.isLoop(flow.dst)) {
      f.rule = 'loop';
      this.logger.warn({ flowId: flow.id, dst: `${flow.dst.address}:${flow.dst.port}` }, 'refused a flow to sluice itself (loop)');
      client.resetAndDestroy();
      this.finish(f, 0, 0, 'loop: destination is a sluice listener');
      return;
    }
    this.run(f, client).catch((err: unknown) => {
      // Reset, not FIN: the client must see a failed connection, as it would without a proxy.
      if (!client.destroyed) client.resetAndDestroy();
      this.finish(f, client.bytesRead, client.bytesWritten, describeError(err));
    });
  }

  private async run(f: TcpFlow, client: net.Socket): Promise<void> {
    const ctx = f.ctx!;
    const d = await this.dispatcher.dispatch(f.flow);
    f.rule = d.rule;
    f.outbound = d.target.tag;
    const upstream = await this.dialWithTimeout(d.target.dialTcp(f.flow.dst, ctx), ctx);
    client.off('close', f.onEarlyClose);
    if (client.destroyed) {
      upstream.destroy();
      throw new SluiceError(ErrorCode.SHUTDOWN, 'client closed before the upstream connected');
    }
    const relay = this.relay(client, upstream);
    f.relay = relay;
    // From here the relay owns the sockets and aborts go through it.
    f.client = undefined;
    f.ctx = undefined;
    void relay.result.then((r) => this.finish(f, r.up, r.down, r.error));
  }

  private finish(f: TcpFlow, up: number, down: number, error?: string): void {
    this.live.delete(f);
    logFlowClosed(this.logger, f.flow, { rule: f.rule, outbound: f.outbound, up, down, startedAt: f.startedAt, error });
  }

  private relay(client: net.Socket, upstream: Duplex): TcpRelay {
    const opts = { idleMs: this.opts.idleMs };
    if (this.opts.splice) {
      const spliced = spliceRelay(client, upstream, opts, this.opts.splice);
      if (spliced) return spliced;
    }
    return relayTcp(client, upstream, opts);
  }

  private dialWithTimeout(dial: Promise<Duplex>, ctx: FlowContextImpl): Promise<Duplex> {
    const ms = this.opts.connectTimeoutMs;
    return new Promise<Duplex>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        const err = new SluiceError(ErrorCode.DIAL_TIMEOUT, `connect timeout after ${ms} ms`);
        ctx.controller.abort(err);
        reject(err);
      }, ms);
      const onAbort = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(ctx.signal.reason);
      };
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      dial.then(
        (s) => {
          clearTimeout(timer);
          ctx.signal.removeEventListener('abort', onAbort);
          // A stream that arrives after we gave up is nobody's: close it.
          if (settled) s.destroy();
          else {
            settled = true;
            resolve(s);
          }
        },
        (err: unknown) => {
          clearTimeout(timer);
          ctx.signal.removeEventListener('abort', onAbort);
          if (!settled) {
            settled = true;
            reject(err);
          }
        },
      );
    });
  }

  /** Cuts every live flow (after the drain period). */
  abortAll(reason: string): void {
    for (const f of this.live) {
      if (f.relay) f.relay.abort(reason);
      else {
        f.ctx?.controller.abort(new SluiceError(ErrorCode.SHUTDOWN, reason));
        f.client?.destroy();
      }
    }
  }
}

function ignore(): void {}
