import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Endpoint, FlowMetadata } from '../adapter/flow';
import type { Outbound } from '../adapter/outbound';
import { isTcpFdDialer } from '../adapter/capabilities';
import { ErrorCode, SluiceError, isErrnoError, isSluiceError } from '../errors';
import type { NativeBinding } from '@sluice/native';
import { canSpliceClient, spliceAvailable, spliceRelay, spliceRelayFd, spliceRelayFds } from '../relay/splice-relay';
import { relayTcp, type TcpRelay } from '../relay/stream-relay';
import { unmapAddress } from '../util/endpoint';
import { logFlowClosed } from './access-log';
import type { Dispatch, Dispatcher } from './dispatch';
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
  /** The accepted connection while it is a bare fd (native accept), -1 otherwise. */
  clientFd = -1;
  relay: TcpRelay | undefined;

  constructor(
    readonly flow: FlowMetadata,
    client: net.Socket | undefined,
    logger: Logger,
  ) {
    this.client = client;
    this.ctx = new FlowContextImpl(flow, logger);
  }

  /** While a dial is awaited (see `TcpFlowHandler.awaitDial`): stops waiting for it, with a reason. */
  giveUp: ((reason: unknown) => void) | undefined;

  /** Aborts the flow's signal (the outbound cancels its dial) and stops waiting for the dial. */
  abort(reason: unknown): void {
    const ctx = this.ctx;
    ctx?.controller.abort(reason);
    const giveUp = this.giveUp;
    this.giveUp = undefined;
    // The signal keeps its first reason; the wait ends with that one.
    giveUp?.(ctx ? ctx.signal.reason : reason);
  }

  /** Until the relay owns the client, a client that goes away must abort the dial. */
  readonly onEarlyClose = (): void => {
    this.abort(new SluiceError(ErrorCode.SHUTDOWN, 'client closed before the upstream connected'));
  };
}

/**
 * Carries accepted TPROXY connections: route, dial with a timeout, relay,
 * write the access-log line. Keeps the set of live flows for shutdown.
 */
export class TcpFlowHandler {
  private readonly live = new Set<TcpFlow>();
  /** Shared by every relay this handler starts. */
  private readonly relayOptions: { readonly idleMs: number };

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly loopGuard: LoopGuard,
    private readonly logger: Logger,
    private readonly opts: TcpHandlerOptions,
  ) {
    this.relayOptions = { idleMs: opts.idleMs };
  }

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

  /**
   * Whether {@link handleFd} may be used: the splice relay is on, so a flow
   * whose outbound can hand over an fd never needs a `net.Socket` (the
   * inbound then accepts natively).
   */
  get acceptsFds(): boolean {
    const native = this.opts.splice;
    return native !== undefined && typeof native.resetFd === 'function' && spliceAvailable(native);
  }

  /**
   * Takes ownership of an accepted connection that is still a bare fd (native
   * accept; see {@link acceptsFds}), with its source and original
   * destination. Same flow, semantics and access-log line as {@link handle}:
   * a flow whose outbound has `dialTcpFd` is connected and spliced without
   * any `net.Socket`; any other gets the fd adopted as a socket and goes the
   * stream way.
   */
  handleFd(fd: number, src: Endpoint, dst: Endpoint, inbound: string): void {
    const native = this.opts.splice!;
    const flow: FlowMetadata = {
      id: nextFlowId(),
      network: 'tcp',
      inbound,
      src: { address: unmapAddress(src.address), port: src.port },
      dst: { address: unmapAddress(dst.address), port: dst.port },
    };
    const f = new TcpFlow(flow, undefined, this.logger);
    f.clientFd = fd;
    this.live.add(f);
    if (this.loopGuard.isLoop(flow.dst)) {
      f.rule = 'loop';
      this.logger.warn({ flowId: flow.id, dst: `${flow.dst.address}:${flow.dst.port}` }, 'refused a flow to sluice itself (loop)');
      f.clientFd = -1;
      native.resetFd(fd);
      this.finish(f, 0, 0, 'loop: destination is a sluice listener');
      return;
    }
    // No async functions and no promise of our own on this path: the dispatch is synchronous without a
    // hook, and the dial is followed with callbacks (see awaitDial).
    let d: Dispatch | Promise<Dispatch>;
    try {
      d = this.dispatcher.dispatch(flow);
    } catch (err) {
      this.failFd(f, native, err);
      return;
    }
    if (d instanceof Promise) {
      d.then(
        (r) => this.routeFd(f, native, r),
        (err: unknown) => this.failFd(f, native, err),
      );
    } else {
      this.routeFd(f, native, d);
    }
  }

  /** A flow of {@link handleFd} that failed before its relay started: reset the client, log. */
  private failFd(f: TcpFlow, native: NativeBinding, err: unknown): void {
    const client = f.client;
    if (client) {
      if (!client.destroyed) client.resetAndDestroy();
      this.finish(f, client.bytesRead, client.bytesWritten, describeError(err));
      return;
    }
    if (f.clientFd >= 0) {
      native.resetFd(f.clientFd);
      f.clientFd = -1;
    }
    this.finish(f, 0, 0, describeError(err));
  }

  /** After routing a bare-fd flow: dial natively and splice, or adopt the fd and go the stream way. */
  private routeFd(f: TcpFlow, native: NativeBinding, d: Dispatch): void {
    f.rule = d.rule;
    f.outbound = d.target.tag;
    const target = d.target;
    const ctx = f.ctx!;
    let dial: Promise<number>;
    try {
      if (!isTcpFdDialer(target) || !spliceAvailable(native)) {
        // The stream way: the fd becomes the paused, accepted socket net.Server would have made.
        const client = new net.Socket({ fd: f.clientFd, allowHalfOpen: true, readable: true, writable: true, pauseOnCreate: true } as net.SocketConstructorOpts);
        f.clientFd = -1;
        f.client = client;
        client.on('error', ignore);
        client.once('close', f.onEarlyClose);
        this.connect(f, client, target).catch((err: unknown) => this.failFd(f, native, err));
        return;
      }
      if (ctx.signal.aborted) throw ctx.signal.reason;
      dial = target.dialTcpFd(f.flow.dst, ctx);
    } catch (err) {
      this.failFd(f, native, err);
      return;
    }
    this.awaitDial(
      f,
      dial,
      (late) => native.closeFd(late),
      (upstreamFd) => this.spliceFd(f, native, upstreamFd),
      (err) => this.failFd(f, native, err),
    );
  }

  /** Both fds of a flow are connected: the splice relay takes them (or, should it refuse, the stream relay). */
  private spliceFd(f: TcpFlow, native: NativeBinding, upstreamFd: number): void {
    const clientFd = f.clientFd;
    let relay: TcpRelay | undefined;
    try {
      relay = spliceRelayFds(clientFd, upstreamFd, this.relayOptions, native);
      if (!relay) {
        const client = new net.Socket({ fd: clientFd, allowHalfOpen: true, readable: true, writable: true, pauseOnCreate: true } as net.SocketConstructorOpts);
        client.on('error', ignore);
        relay = relayTcp(client, adoptFd(upstreamFd), this.relayOptions);
      }
    } catch (err) {
      this.failFd(f, native, err);
      return;
    }
    f.clientFd = -1;
    this.started(f, relay);
  }

  private started(f: TcpFlow, relay: TcpRelay): void {
    f.relay = relay;
    f.giveUp = undefined;
    // From here the relay owns the sockets and aborts go through it.
    f.client = undefined;
    f.ctx = undefined;
    void relay.result.then((r) => this.finish(f, r.up, r.down, r.error));
  }

  private async run(f: TcpFlow, client: net.Socket): Promise<void> {
    const d = await this.dispatcher.dispatch(f.flow);
    f.rule = d.rule;
    f.outbound = d.target.tag;
    return this.connect(f, client, d.target);
  }

  /** After routing: dial `target`, then relay. */
  private async connect(f: TcpFlow, client: net.Socket, target: Outbound): Promise<void> {
    const ctx = f.ctx!;
    const native = this.opts.splice;
    let relay: TcpRelay;
    if (native && isTcpFdDialer(target) && canSpliceClient(client, native)) {
      // Fast path: the outbound hands over a connected fd and the splice relay takes it; no upstream net.Socket.
      const fd = await this.dialWithTimeout(f, target.dialTcpFd(f.flow.dst, ctx), (late) => native.closeFd(late));
      client.off('close', f.onEarlyClose);
      if (client.destroyed) {
        native.closeFd(fd);
        throw new SluiceError(ErrorCode.SHUTDOWN, 'client closed before the upstream connected');
      }
      relay = spliceRelayFd(client, fd, this.relayOptions, native) ?? this.relay(client, adoptFd(fd));
    } else {
      const upstream = await this.dialWithTimeout(f, target.dialTcp(f.flow.dst, ctx), (late) => late.destroy());
      client.off('close', f.onEarlyClose);
      if (client.destroyed) {
        upstream.destroy();
        throw new SluiceError(ErrorCode.SHUTDOWN, 'client closed before the upstream connected');
      }
      relay = this.relay(client, upstream);
    }
    this.started(f, relay);
  }

  private finish(f: TcpFlow, up: number, down: number, error?: string): void {
    this.live.delete(f);
    logFlowClosed(this.logger, f.flow, { rule: f.rule, outbound: f.outbound, up, down, startedAt: f.startedAt, error });
  }

  private relay(client: net.Socket, upstream: Duplex): TcpRelay {
    const opts = this.relayOptions;
    if (this.opts.splice) {
      const spliced = spliceRelay(client, upstream, opts, this.opts.splice);
      if (spliced) return spliced;
    }
    return relayTcp(client, upstream, opts);
  }

  /** Settles with `dial`, or rejects on timeout/abort; what `dial` yields after that is given to `dispose`. */
  private dialWithTimeout<T>(f: TcpFlow, dial: Promise<T>, dispose: (late: T) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => this.awaitDial(f, dial, dispose, resolve, reject));
  }

  /**
   * Follows `dial` with callbacks: `onDialed` with what it yields, or
   * `onFailed` with its error, the connect timeout's (which also aborts the
   * flow's signal, so the outbound cancels) or an abort's reason
   * ({@link TcpFlow.abort}). Exactly one of them is called; what `dial`
   * yields after that is given to `dispose`. No listener on the signal:
   * aborts come through the flow.
   */
  private awaitDial<T>(f: TcpFlow, dial: Promise<T>, dispose: (late: T) => void, onDialed: (value: T) => void, onFailed: (err: unknown) => void): void {
    const ms = this.opts.connectTimeoutMs;
    let settled = false;
    const timer = setTimeout(() => f.abort(new SluiceError(ErrorCode.DIAL_TIMEOUT, `connect timeout after ${ms} ms`)), ms);
    f.giveUp = (reason) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      onFailed(reason);
    };
    dial.then(
      (value) => {
        clearTimeout(timer);
        // A stream that arrives after we gave up is nobody's: close it.
        if (settled) return dispose(value);
        settled = true;
        f.giveUp = undefined;
        onDialed(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        f.giveUp = undefined;
        onFailed(err);
      },
    );
  }

  /** Cuts every live flow (after the drain period). */
  abortAll(reason: string): void {
    for (const f of this.live) {
      if (f.relay) f.relay.abort(reason);
      else {
        // A bare client fd is reset by the flow's own error path once the dial gives up.
        f.abort(new SluiceError(ErrorCode.SHUTDOWN, reason));
        f.client?.destroy();
      }
    }
  }
}

function ignore(): void {}

/** A connected TCP fd as a stream, for the stream relay. */
function adoptFd(fd: number): net.Socket {
  return new net.Socket({ fd, allowHalfOpen: true, readable: true, writable: true });
}
