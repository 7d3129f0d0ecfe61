import type * as net from 'node:net';
import type { Logger } from 'pino';
import { isTcpConnectPlanner, isTcpFdDialer, type TcpConnectPlan } from '../adapter/capabilities';
import type { Destination, Endpoint, FlowMetadata } from '../adapter/flow';
import type { AcceptedConnection } from '../adapter/inbound';
import { ErrorCode, SluiceError, describeError } from '../errors';
import type { RelayEnd, TcpRelayer } from '../relay/relay';
import type { ConnectingRelayResult } from '../relay/splice-relay';
import type { TcpRelay } from '../relay/stream-relay';
import { unmapAddress } from '../util/endpoint';
import { logFlowClosed, reportFlowRouted, type FlowListener } from './access-log';
import type { Dispatch, Dispatcher, RouteTable } from './dispatch';
import { FlowContextImpl, nextFlowId } from './flow-context';
import type { FlowBytes, LiveFlow } from './live-flow';
import type { LoopGuard } from './loop-guard';
import { readFirstBytes, type FirstBytes, type SniffSettings } from './tcp-sniff';
import { RateLimitedLog } from '../util/rate-limited-log';

/** Settings of {@link TcpFlows}. */
export interface TcpFlowsOptions {
  readonly connectTimeoutMs: number;
  /**
   * Most flows this instance carries at once (a worker's share of
   * `limits.max_tcp_flows`); past it new connections are reset and flows
   * already open are untouched. Default: no cap.
   */
  readonly maxFlows?: number;
  /** The cap as configured for the whole of Sluice, named in the refusal (default {@link maxFlows}). */
  readonly maxFlowsTotal?: number;
  /**
   * The inbounds (by tag) that sniff their flows' first bytes for a host
   * name before routing (`sniff: true`). Leave it out when none does: the
   * flows of other inbounds take exactly the path they take without it.
   */
  readonly sniff?: ReadonlyMap<string, SniffSettings>;
}

/**
 * One TCP flow's state. A class rather than closures so that, once a relay
 * owns the connection, the flow keeps nothing but what its access-log line
 * needs: an idle spliced flow must not pin a socket and an AbortController.
 */
class TcpFlow implements LiveFlow {
  readonly startedAt = Date.now();
  /** Replaced once, when sniffing finds a name (`dst.host`, `sniffed`), before the flow is routed. */
  flow: FlowMetadata;
  /** What the outbound is asked to dial when it is not `flow.dst` (a sniffed name without `override_destination`). */
  dialDst: Destination | undefined;
  /** Bytes read from the client while sniffing: the upstream gets them first, unchanged. */
  replay: Buffer | undefined;
  rule = '';
  outbound = '';
  /** The route table the flow was routed with, released when it ends. */
  table: RouteTable | undefined;
  /** Made when an outbound is dialled (a planned connect needs none). */
  ctx: FlowContextImpl | undefined;
  /** An abort that came before the flow had a context (while it was routed): the dial is not started. */
  earlyAbort: unknown;
  /** The client connection until the relay owns it. */
  client: AcceptedConnection | undefined;
  relay: TcpRelay | undefined;
  /** While the first bytes or the dial are awaited: stops waiting, with a reason. */
  giveUp: ((reason: unknown) => void) | undefined;

  constructor(flow: FlowMetadata, client: AcceptedConnection) {
    this.flow = flow;
    this.client = client;
  }

  /** Aborts the flow's signal (the outbound cancels its dial) and stops waiting for the dial. */
  abort(reason: unknown): void {
    const ctx = this.ctx;
    if (ctx) ctx.controller.abort(reason);
    else this.earlyAbort ??= reason;
    const giveUp = this.giveUp;
    this.giveUp = undefined;
    // The signal keeps its first reason; the wait ends with that one.
    giveUp?.(ctx ? ctx.signal.reason : reason);
  }

  bytes(): FlowBytes {
    if (this.relay) return this.relay.bytes();
    const c = this.client;
    return typeof c === 'object' ? { up: c.bytesRead, down: c.bytesWritten } : NO_BYTES;
  }

  close(reason: string): void {
    if (this.relay) {
      this.relay.abort(reason);
      return;
    }
    // A dial in progress gives up at once; a flow still being routed fails when the route arrives.
    this.abort(new SluiceError(ErrorCode.SHUTDOWN, reason));
    if (typeof this.client === 'object') this.client.destroy();
  }

  /** Until the relay owns a socket client, the client going away must abort the dial. */
  readonly onEarlyClose = (): void => {
    this.abort(new SluiceError(ErrorCode.SHUTDOWN, 'client closed before the upstream connected'));
  };
}

/**
 * The one route of a TCP flow: accept → route → dial → relay → finish. The
 * client arrives as a bare fd (accepted natively) or a paused socket; the
 * upstream comes from the outbound's `dialTcpFd` when it offers that and the
 * relayer takes fds, else from `dialTcp`; {@link TcpRelayer} picks the relay.
 * Every failure before the relay goes through {@link fail}; every end through
 * {@link finish}, which writes the access-log line.
 */
export class TcpFlows {
  private readonly live = new Set<TcpFlow>();
  private readonly warnings: RateLimitedLog;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly loopGuard: LoopGuard,
    private readonly relayer: TcpRelayer,
    private readonly logger: Logger,
    private readonly opts: TcpFlowsOptions,
    private readonly listener?: FlowListener,
  ) {
    this.warnings = new RateLimitedLog(logger);
  }

  /** Number of flows in progress. */
  get size(): number {
    return this.live.size;
  }

  /** Whether {@link accept} can take bare fds (the relay would splice them). */
  get acceptsFds(): boolean {
    return this.relayer.acceptsFds;
  }

  /** Takes ownership of an accepted connection from `src` whose original destination is `dst`. */
  accept(conn: AcceptedConnection, src: Endpoint, dst: Endpoint, inbound: string): void {
    const max = this.opts.maxFlows;
    if (max !== undefined && this.live.size >= max) {
      this.refuse(conn, src, dst, inbound, max);
      return;
    }
    const flow = tcpFlow(src, dst, inbound);
    const f = new TcpFlow(flow, conn);
    this.live.add(f);
    if (typeof conn !== 'number') {
      conn.on('error', ignore);
      conn.once('close', f.onEarlyClose);
    }
    if (this.loopGuard.isLoop(flow.dst)) {
      f.rule = 'loop';
      this.warnings.warn('loop', { flowId: flow.id, dst: `${flow.dst.address}:${flow.dst.port}` }, 'refused a flow to sluice itself (loop)');
      this.fail(f, new SluiceError(ErrorCode.LOOP, 'loop: destination is a sluice listener'));
      return;
    }
    const sniff = this.opts.sniff?.get(inbound);
    if (sniff !== undefined) this.sniff(f, sniff);
    else this.route(f);
  }

  /** Routes the flow (the dispatch is synchronous without a hook), then dials. */
  private route(f: TcpFlow): void {
    const flow = f.flow;
    // No async functions and no promise of our own on this path: the dispatch is synchronous without a hook.
    let d: Dispatch | Promise<Dispatch>;
    try {
      d = this.dispatcher.dispatch(flow);
    } catch (err) {
      this.fail(f, err);
      return;
    }
    if (d instanceof Promise) {
      d.then(
        (r) => this.dial(f, r),
        (err: unknown) => this.fail(f, err),
      );
    } else {
      this.dial(f, d);
    }
  }

  /**
   * Reads the client's first bytes for a host name, then routes. The client
   * becomes a socket for the read (a bare fd is adopted); the relay can still
   * splice it afterwards, sending the bytes read first.
   */
  private sniff(f: TcpFlow, settings: SniffSettings): void {
    let socket: net.Socket;
    const client = f.client!;
    if (typeof client === 'number') {
      try {
        socket = this.relayer.adopt(client);
      } catch (err) {
        this.fail(f, err);
        return;
      }
      socket.on('error', ignore);
      socket.once('close', f.onEarlyClose);
      f.client = socket;
    } else {
      socket = client;
    }
    const stop = readFirstBytes(socket, settings.timeoutMs, (first) => {
      f.giveUp = undefined;
      this.sniffed(f, first, settings);
      this.route(f);
    });
    f.giveUp = (reason) => {
      f.giveUp = undefined;
      stop();
      this.fail(f, reason);
    };
  }

  /** Records what sniffing found: the name in the flow's destination, and the bytes to replay. */
  private sniffed(f: TcpFlow, first: FirstBytes, settings: SniffSettings): void {
    if (first.bytes.length > 0) f.replay = first.bytes;
    const outcome = first.outcome;
    if (outcome.kind === 'protocol') f.flow = { ...f.flow, protocol: outcome.protocol };
    if (outcome.kind !== 'found') return;
    const dst = f.flow.dst;
    f.flow = { ...f.flow, dst: { address: dst.address, port: dst.port, host: outcome.host }, sniffed: outcome.protocol };
    // Routing and logs see the name; the outbound dials the original address unless the inbound says otherwise.
    if (!settings.overrideDestination) f.dialDst = dst;
  }

  /**
   * At the cap: the connection is reset at once (as a full server would), with
   * its access-log line and a rate-limited warning; nothing is routed or
   * dialled, so a connection storm costs one accept and one close each.
   */
  private refuse(conn: AcceptedConnection, src: Endpoint, dst: Endpoint, inbound: string, max: number): void {
    const startedAt = Date.now();
    if (typeof conn !== 'number') conn.on('error', ignore);
    this.relayer.reset(conn);
    const flow = tcpFlow(src, dst, inbound);
    const total = this.opts.maxFlowsTotal ?? max;
    this.warnings.warn('max-tcp-flows', { maxTcpFlows: total, thisWorker: max, open: this.live.size }, 'refused new tcp flows: limits.max_tcp_flows reached');
    logFlowClosed(this.logger, flow, { rule: '', outbound: '', up: 0, down: 0, startedAt, error: `limit: max_tcp_flows (${total}) reached` }, this.listener);
  }

  /** After routing: dial the outbound (fd or stream), bounded by the connect timeout. */
  private dial(f: TcpFlow, d: Dispatch): void {
    f.rule = d.rule;
    f.outbound = d.target.tag;
    f.table = d.table;
    d.table.acquire();
    reportFlowRouted(this.logger, f.flow, d.rule, d.target.tag, this.listener);
    const target = d.target;
    let dial: Promise<RelayEnd>;
    try {
      if (f.earlyAbort !== undefined) throw f.earlyAbort;
      const dst = f.dialDst ?? f.flow.dst;
      // The fast path: a bare client fd, nothing to replay, and an outbound that can describe its connect.
      const client = f.client;
      if (typeof client === 'number' && f.replay === undefined && isTcpConnectPlanner(target) && this.relayer.acceptsFds) {
        const plan = target.planTcpConnect(dst, f.flow);
        if (plan !== undefined && this.connectAndRelay(f, client, plan)) return;
      }
      // Only a dial needs a context (its signal, its logger).
      const ctx = (f.ctx = new FlowContextImpl(f.flow, this.logger));
      dial = this.relayer.acceptsFds && isTcpFdDialer(target) ? target.dialTcpFd(dst, ctx) : target.dialTcp(dst, ctx);
    } catch (err) {
      this.fail(f, err);
      return;
    }
    const ms = this.opts.connectTimeoutMs;
    let settled = false;
    const timer = setTimeout(() => f.abort(new SluiceError(ErrorCode.DIAL_TIMEOUT, `connect timeout after ${ms} ms`)), ms);
    f.giveUp = (reason) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.fail(f, reason);
    };
    dial.then(
      (upstream) => {
        clearTimeout(timer);
        // An upstream that arrives after we gave up is nobody's: close it.
        if (settled) return this.relayer.close(upstream);
        settled = true;
        f.giveUp = undefined;
        this.relay(f, upstream);
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        f.giveUp = undefined;
        this.fail(f, err);
      },
    );
  }

  /**
   * Connect and relay in one native step (see {@link TcpConnectPlanner}):
   * the relay owns the client from here, bounded by the connect timeout, and
   * a failed connect ends the flow with the error and reset the dial would
   * have given. False, owning nothing, when the relay refuses.
   */
  private connectAndRelay(f: TcpFlow, client: number, plan: TcpConnectPlan): boolean {
    const relay = this.relayer.connectAndStart(client, plan, Math.min(this.opts.connectTimeoutMs, plan.timeout?.ms ?? Infinity));
    if (relay === undefined) return false;
    f.relay = relay;
    f.client = undefined;
    void relay.result.then((r) => this.finishConnected(f, r, plan));
    return true;
  }

  /** The end of a {@link connectAndRelay} flow: a failed connect is logged as the dial's failure, as {@link fail} would. */
  private finishConnected(f: TcpFlow, r: ConnectingRelayResult, plan: TcpConnectPlan): void {
    if (r.connected) {
      this.finish(f, r.up, r.down, r.error);
      return;
    }
    let err: unknown;
    const own = plan.timeout;
    if (r.connectTimedOut && own !== undefined && own.ms < this.opts.connectTimeoutMs) err = own.error();
    else if (r.connectTimedOut) err = new SluiceError(ErrorCode.DIAL_TIMEOUT, `connect timeout after ${this.opts.connectTimeoutMs} ms`);
    else if (r.connectError !== undefined) err = plan.dialError(r.connectError);
    else err = new SluiceError(ErrorCode.SHUTDOWN, r.error ?? 'aborted before the upstream connected');
    this.finish(f, 0, 0, describeError(err));
  }

  /** Both ends are connected: the relay takes them. */
  private relay(f: TcpFlow, upstream: RelayEnd): void {
    const client = f.client!;
    if (typeof client !== 'number') {
      client.off('close', f.onEarlyClose);
      if (client.destroyed) {
        this.relayer.close(upstream);
        this.fail(f, new SluiceError(ErrorCode.SHUTDOWN, 'client closed before the upstream connected'));
        return;
      }
    }
    const relay = this.relayer.start(client, upstream, f.replay);
    f.replay = undefined;
    f.relay = relay;
    // From here the relay owns the connection and aborts go through it.
    f.client = undefined;
    f.ctx = undefined;
    void relay.result.then((r) => this.finish(f, r.up, r.down, r.error));
  }

  /** The one failure path before a relay: reset the client (a failed connection, as without a proxy), log. */
  private fail(f: TcpFlow, err: unknown): void {
    f.ctx?.controller.abort(err);
    const client = f.client;
    f.client = undefined;
    let up = 0;
    let down = 0;
    if (client !== undefined) {
      if (typeof client !== 'number') {
        up = client.bytesRead;
        down = client.bytesWritten;
        client.off('close', f.onEarlyClose);
      }
      this.relayer.reset(client);
    }
    this.finish(f, up, down, describeError(err));
  }

  private finish(f: TcpFlow, up: number, down: number, error?: string): void {
    if (!this.live.delete(f)) return;
    try {
      logFlowClosed(this.logger, f.flow, { rule: f.rule, outbound: f.outbound, up, down, startedAt: f.startedAt, error }, this.listener);
    } finally {
      // After the flow's line and event: releasing the last flow of a reloaded table closes its outbounds.
      f.table?.release();
    }
  }

  /** Cuts every live flow (after the drain period). */
  abortAll(reason: string): void {
    for (const f of this.live) f.close(reason);
  }

  /** The flows in progress, for the control API. */
  liveFlows(): IterableIterator<LiveFlow> {
    return this.live.values();
  }
}

const NO_BYTES: FlowBytes = Object.freeze({ up: 0, down: 0 });

function ignore(): void {}

/** A new TCP flow's metadata; IPv4-mapped addresses un-mapped. */
function tcpFlow(src: Endpoint, dst: Endpoint, inbound: string): FlowMetadata {
  return {
    id: nextFlowId(),
    network: 'tcp',
    inbound,
    src: { address: unmapAddress(src.address), port: src.port },
    dst: { address: unmapAddress(dst.address), port: dst.port },
  };
}
