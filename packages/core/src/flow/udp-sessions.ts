import type { Logger } from 'pino';
import type { Endpoint, FlowMetadata } from '../adapter/flow';
import type { PacketChannel } from '../adapter/outbound';
import { isUdpFdDialer } from '../adapter/capabilities';
import { ErrorCode, SluiceError } from '../errors';
import { UdpSessionTable, type ExpiringSession } from '../relay/udp-session-table';
import { logFlowClosed } from './access-log';
import type { Dispatcher } from './dispatch';
import { FlowContextImpl, nextFlowId } from './flow-context';
import type { LoopGuard } from './loop-guard';
import { describeError } from './tcp-flows';

/** Where replies go: the inbound's transparent socket, which sends from any address. */
export interface UdpReplySink {
  send(data: Buffer, fromAddress: string, fromPort: number, toAddress: string, toPort: number): boolean;
  /** The inbound socket's native session relay, when it has one. */
  readonly relay?: NativeUdpRelay;
}

/** A session the native relay ended or gave back, with the bytes it relayed. */
export interface NativeSessionEnd {
  readonly id: number;
  readonly up: number;
  readonly down: number;
  readonly reason: string;
}

/**
 * Relays a session's datagrams without JavaScript once it has a connected UDP
 * socket upstream (`UdpTransparentSocket.attachSession` in `@sluice/native`).
 * Sessions it ends by itself (idle, cap) come back through
 * {@link UdpFlowHandler.onNativeSessionsClosed}.
 */
export interface NativeUdpRelay {
  /** Takes `fd` (also when it throws); returns sessions it pushed out. */
  attach(id: number, src: Endpoint, dst: Endpoint, fd: number, queued: Buffer[]): readonly NativeSessionEnd[];
  /** Ends an attached session; undefined when the relay no longer has it. */
  detach(id: number): NativeSessionEnd | undefined;
  /** Closes an fd that will not be attached after all. */
  discard(fd: number): void;
}

/** Settings of {@link UdpFlowHandler}. */
export interface UdpHandlerOptions {
  readonly idleMs: number;
  readonly maxSessions: number;
  readonly connectTimeoutMs: number;
  /** Datagrams held per session while its outbound is being dialled. */
  readonly maxPending?: number;
  /**
   * Hand sessions whose outbound offers `dialUdpFd` to the inbound's native
   * relay (`relay.native_udp`). Default true.
   */
  readonly nativeRelay?: boolean;
}

/** One client endpoint talking to one original destination. */
class UdpSession implements ExpiringSession {
  lastActive = 0;
  up = 0;
  down = 0;
  rule = '';
  outbound = '';
  channel?: PacketChannel;
  /** The session's id in the native relay, once handed to it. */
  nativeId?: number;
  /** Set while the native relay carries the session. */
  relay?: NativeUdpRelay;
  pending: Buffer[] | undefined = [];
  closed = false;
  readonly startedAt = Date.now();
  constructor(
    readonly key: string,
    readonly ctx: FlowContextImpl,
    private readonly onClosed: (s: UdpSession, reason?: string) => void,
  ) {}

  close(reason?: string): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = undefined;
    this.ctx.controller.abort(new SluiceError(ErrorCode.SHUTDOWN, reason ?? 'closed'));
    this.channel?.close();
    if (this.relay) this.addNative(this.relay.detach(this.nativeId!));
    this.onClosed(this, reason);
  }

  /** Adds what the native relay carried; it no longer has the session. */
  addNative(end: NativeSessionEnd | undefined): void {
    this.relay = undefined;
    if (!end) return;
    this.up += end.up;
    this.down += end.down;
  }
}

const CLEAN_REASONS = new Set(['idle timeout', 'shutdown']);

/**
 * Turns TPROXY datagrams into UDP sessions keyed by inbound, client endpoint
 * and original destination; replies go back from the address they came from.
 */
export class UdpFlowHandler {
  private readonly table: UdpSessionTable<UdpSession>;
  /** Sessions the native relay carries (out of `table`: the relay times them out). */
  private readonly attached = new Map<number, UdpSession>();
  private nextNativeId = 0;
  private readonly sweeper: NodeJS.Timeout;
  private readonly maxPending: number;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly loopGuard: LoopGuard,
    private readonly logger: Logger,
    private readonly opts: UdpHandlerOptions,
  ) {
    this.table = new UdpSessionTable({ maxSessions: opts.maxSessions, idleMs: opts.idleMs });
    this.maxPending = opts.maxPending ?? 64;
    this.sweeper = setInterval(() => this.table.sweep(), Math.max(250, Math.min(opts.idleMs / 4, 5000)));
    this.sweeper.unref();
  }

  get size(): number {
    return this.table.size + this.attached.size;
  }

  /** Idle timeout and cap the inbound's native relay should apply. */
  get nativeRelayOptions(): { idleMs: number; maxSessions: number } | undefined {
    return this.opts.nativeRelay === false ? undefined : { idleMs: this.opts.idleMs, maxSessions: this.opts.maxSessions };
  }

  /** Sessions the native relay ended by itself (idle timeout, cap) or at the inbound's close. */
  onNativeSessionsClosed(ends: readonly NativeSessionEnd[]): void {
    for (const end of ends) {
      const s = this.attached.get(end.id);
      if (!s) continue;
      s.addNative(end);
      s.close(end.reason);
    }
  }

  /** One datagram from `src` whose original destination was `dst`. */
  onDatagram(inbound: string, sink: UdpReplySink, data: Buffer, src: Endpoint, dst: Endpoint): void {
    const key = `${inbound}|${src.address}|${src.port}|${dst.address}|${dst.port}`;
    let s = this.table.get(key);
    if (s) this.table.touch(key, s);
    else {
      if (this.loopGuard.isLoop(dst)) {
        this.logger.warn({ src: `${src.address}:${src.port}`, dst: `${dst.address}:${dst.port}` }, 'dropped a datagram to sluice itself (loop)');
        return;
      }
      s = this.open(key, inbound, sink, src, dst);
      if (!s) return;
    }
    s.up += data.length;
    if (s.channel) s.channel.send(data, s.ctx.flow.dst);
    else if (s.pending && s.pending.length < this.maxPending) s.pending.push(data);
  }

  private open(key: string, inbound: string, sink: UdpReplySink, src: Endpoint, dst: Endpoint): UdpSession | undefined {
    const flow: FlowMetadata = { id: nextFlowId(), network: 'udp', inbound, src, dst };
    const ctx = new FlowContextImpl(flow, this.logger);
    const session = new UdpSession(key, ctx, (s, reason) => {
      this.table.delete(s.key, s);
      if (s.nativeId !== undefined) this.attached.delete(s.nativeId);
      const error = reason === undefined || CLEAN_REASONS.has(reason) ? undefined : reason;
      logFlowClosed(this.logger, flow, { rule: s.rule, outbound: s.outbound, up: s.up, down: s.down, startedAt: s.startedAt, error });
    });
    this.table.add(key, session);
    const connect = async (): Promise<void> => {
      const d = await this.dispatcher.dispatch(flow);
      session.rule = d.rule;
      session.outbound = d.target.tag;
      if (!d.target.dialUdp) throw new SluiceError(ErrorCode.UNSUPPORTED_NETWORK, `outbound "${d.target.tag}" does not carry udp`);
      const relay = this.opts.nativeRelay === false ? undefined : sink.relay;
      if (relay && isUdpFdDialer(d.target)) {
        const fd = await this.withConnectTimeout(ctx, d.target.dialUdpFd(ctx));
        if (session.closed) return relay.discard(fd);
        this.attach(session, relay, fd);
        return;
      }
      const channel = await this.withConnectTimeout(ctx, d.target.dialUdp(ctx));
      if (session.closed) return channel.close();
      session.channel = channel;
      channel.setReceiver({
        onPacket: (payload, from) => {
          session.down += payload.length;
          this.table.touch(key, session);
          try {
            sink.send(payload, from.address, from.port, src.address, src.port);
          } catch (err) {
            ctx.logger.debug({ err }, 'reply not sent');
          }
        },
        onClose: (err) => session.close(err ? describeError(err) : 'upstream closed'),
      });
      const queued = session.pending ?? [];
      session.pending = undefined;
      for (const p of queued) channel.send(p, flow.dst);
    };
    connect().catch((err: unknown) => session.close(describeError(err)));
    return session;
  }

  /** `dial`, aborted through the flow's signal when `timeouts.connect_ms` runs out. */
  private async withConnectTimeout<T>(ctx: FlowContextImpl, dial: Promise<T>): Promise<T> {
    const ms = this.opts.connectTimeoutMs;
    const timer = setTimeout(() => ctx.controller.abort(new SluiceError(ErrorCode.DIAL_TIMEOUT, `connect timeout after ${ms} ms`)), ms);
    try {
      return await dial;
    } finally {
      clearTimeout(timer);
    }
  }

  /** From here on the native relay carries the session; its queued datagrams go first. */
  private attach(session: UdpSession, relay: NativeUdpRelay, fd: number): void {
    const id = ++this.nextNativeId;
    const { src, dst } = session.ctx.flow;
    const queued = session.pending ?? [];
    session.pending = undefined;
    const pushedOut = relay.attach(id, src, dst, fd, queued);
    this.table.delete(session.key, session);
    session.nativeId = id;
    session.relay = relay;
    this.attached.set(id, session);
    this.onNativeSessionsClosed(pushedOut);
  }

  /** Closes every session (shutdown). */
  closeAll(reason = 'shutdown'): void {
    clearInterval(this.sweeper);
    this.table.closeAll(reason);
    for (const s of [...this.attached.values()]) s.close(reason);
  }
}
