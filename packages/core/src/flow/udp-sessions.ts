import type { Logger } from 'pino';
import { isUdpFdDialer } from '../adapter/capabilities';
import type { Destination, Endpoint, FlowMetadata } from '../adapter/flow';
import type { DatagramPort, UdpSessionEnd, UdpSessionRelay } from '../adapter/inbound';
import type { PacketChannel } from '../adapter/outbound';
import { ErrorCode, SluiceError, describeError } from '../errors';
import { UdpSessionTable, type ExpiringSession } from '../relay/udp-session-table';
import { logFlowClosed, reportFlowRouted, type FlowListener } from './access-log';
import type { Dispatch, Dispatcher, RouteTable } from './dispatch';
import { FlowContextImpl, nextFlowId } from './flow-context';
import type { FlowBytes, LiveFlow } from './live-flow';
import type { LoopGuard } from './loop-guard';
import { RateLimitedLog } from '../util/rate-limited-log';
import { DatagramSniffer } from '../sniff/datagram-sniffer';

/** How an inbound with `sniff: true` treats a new UDP session. */
export interface UdpSniffing {
  /** `sniff_timeout_ms`: the longest a session is held for an incomplete QUIC ClientHello. */
  readonly timeoutMs: number;
  /** `override_destination`: outbounds get the sniffed name in the destination of each datagram. */
  readonly overrideDestination: boolean;
}

/** Settings of {@link UdpSessions}. */
export interface UdpSessionsOptions {
  readonly idleMs: number;
  /**
   * Most sessions at once, counting both tables: the sessions carried here
   * and those the inbounds' relays carry (all inbounds). At the cap the least
   * recently used session of them all closes (`session limit`).
   */
  readonly maxSessions: number;
  readonly connectTimeoutMs: number;
  /** Datagrams held per session while its outbound is being dialled (default 64). */
  readonly maxPending?: number;
  /** Bytes held per session while dialling (default 64 KiB). */
  readonly maxPendingBytes?: number;
  /** Bytes held by all sessions while dialling (default 4 MiB). */
  readonly maxPendingTotal?: number;
  /**
   * Hand sessions whose outbound offers `dialUdpFd` to the inbound's session
   * relay, when the inbound offers one (`relay.native_udp`). Default true.
   */
  readonly sessionRelay?: boolean;
  /** The inbounds (by tag) that sniff new sessions for a QUIC server name before routing them. */
  readonly sniff?: ReadonlyMap<string, UdpSniffing>;
}

/**
 * Who owns a session's datagrams right now. Exactly one owner at a time:
 * - `sniffing`: this module, which queues them and reads them for a QUIC
 *   server name before routing (inbounds with `sniff: true`);
 * - `dialling`: this module, which queues them while the outbound dials;
 * - `channel`: this module, which passes them through the outbound's {@link PacketChannel};
 * - `relayed`: the inbound's {@link UdpSessionRelay}, which moves them without
 *   JavaScript and ends the session itself (idle, cap); this module keeps only
 *   the access-log record until the relay reports the end;
 * - `closed`: nobody.
 */
type SessionOwner = 'sniffing' | 'dialling' | 'channel' | 'relayed' | 'closed';

/** One client endpoint talking to one original destination. */
class UdpSession implements ExpiringSession, LiveFlow {
  owner: SessionOwner = 'dialling';
  lastActive = 0;
  up = 0;
  down = 0;
  rule = '';
  outbound = '';
  table: RouteTable | undefined;
  channel: PacketChannel | undefined;
  /** The destination datagrams are sent to through the channel: the sniffed name only with `override_destination`. */
  sendTo: Destination;
  /** While `sniffing`: the sniffer and the timer that routes without a name when it runs out. */
  sniffer: DatagramSniffer | undefined;
  sniffTimer: NodeJS.Timeout | undefined;
  /** The queue while `sniffing` and `dialling`, and its size in bytes. */
  pending: Buffer[] = [];
  pendingBytes = 0;
  /** The session's id in the inbound's relay, while `relayed`. */
  relayId = 0;
  relay: UdpSessionRelay | undefined;
  readonly startedAt = Date.now();

  constructor(
    readonly key: string,
    /** Replaced once, when sniffing has named the destination (same flow id). */
    public ctx: FlowContextImpl,
    readonly port: DatagramPort,
    private readonly onClosed: (s: UdpSession, reason?: string) => void,
    private readonly onDequeue: (bytes: number) => void,
  ) {
    this.sendTo = ctx.flow.dst;
  }

  get flow(): FlowMetadata {
    return this.ctx.flow;
  }

  /** What it moved itself, plus, while the inbound's relay owns it, the relay's running counts (reported again, whole, at its end). */
  bytes(): FlowBytes {
    const relayed = this.owner === 'relayed' ? this.relay?.bytes?.(this.relayId) : undefined;
    return relayed ? { up: this.up + relayed.up, down: this.down + relayed.down } : { up: this.up, down: this.down };
  }

  /** Set when the session failed before carrying anything: it stays in the table, swallowing datagrams. */
  failedEarly = false;
  /** Datagrams dropped since it failed. */
  dropped = 0;

  close(reason?: string): void {
    const owner = this.owner;
    if (owner === 'closed') return;
    this.owner = 'closed';
    this.stopSniffing();
    this.failedEarly = owner === 'dialling' && reason !== undefined && !CLEAN_REASONS.has(reason) && reason !== 'session limit';
    this.dropPending();
    this.ctx.controller.abort(new SluiceError(ErrorCode.SHUTDOWN, reason ?? 'closed'));
    if (owner === 'channel') this.channel?.close();
    if (owner === 'relayed' && this.relay) {
      const relay = this.relay;
      this.relay = undefined;
      this.addRelayed(relay.detach(this.relayId));
    }
    this.onClosed(this, reason);
  }

  stopSniffing(): void {
    if (this.sniffTimer) clearTimeout(this.sniffTimer);
    this.sniffTimer = undefined;
    this.sniffer = undefined;
  }

  /** Empties the queue, returning it; the owner's total is told through `onDequeue`. */
  takePending(): Buffer[] {
    const queued = this.pending;
    this.pending = [];
    this.onDequeue(this.pendingBytes);
    this.pendingBytes = 0;
    return queued;
  }

  /** Queued datagrams that will never be sent are not counted in `up`. */
  private dropPending(): void {
    this.up -= this.pendingBytes;
    this.takePending();
  }

  /** Adds what the inbound's relay carried. */
  addRelayed(end: UdpSessionEnd | undefined): void {
    if (!end) return;
    this.up += end.up;
    this.down += end.down;
  }
}

const CLEAN_REASONS = new Set(['idle timeout', 'shutdown']);

/**
 * Turns datagrams into UDP sessions keyed by inbound, client endpoint and
 * original destination: routes each session once, dials its outbound, and
 * sends replies back from the address they came from through the inbound's
 * {@link DatagramPort}. Sessions it carries itself live in an idle/LRU table;
 * sessions handed to the inbound's relay are timed out there.
 */
export class UdpSessions {
  private readonly table: UdpSessionTable<UdpSession>;
  /** Sessions the inbounds' relays own, by relay id, in the order they were attached. */
  private readonly relayed = new Map<number, UdpSession>();
  /** The relays sessions were handed to (one per inbound): asked for their least recently used session at the cap. */
  private readonly relays = new Set<UdpSessionRelay>();
  private nextRelayId = 0;
  private readonly sweeper: NodeJS.Timeout;
  private readonly maxPending: number;
  private readonly maxPendingBytes: number;
  private readonly maxPendingTotal: number;
  /** Bytes queued by all sessions that are dialling. */
  private pendingTotal = 0;
  private readonly warnings: RateLimitedLog;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly loopGuard: LoopGuard,
    private readonly logger: Logger,
    private readonly opts: UdpSessionsOptions,
    private readonly listener?: FlowListener,
  ) {
    this.table = new UdpSessionTable({ maxSessions: opts.maxSessions, idleMs: opts.idleMs });
    this.maxPending = opts.maxPending ?? 64;
    this.maxPendingBytes = opts.maxPendingBytes ?? 64 * 1024;
    this.maxPendingTotal = opts.maxPendingTotal ?? 4 * 1024 * 1024;
    this.warnings = new RateLimitedLog(logger);
    this.sweeper = setInterval(() => this.table.sweep(), Math.max(250, Math.min(opts.idleMs / 4, 5000)));
    this.sweeper.unref();
  }

  get size(): number {
    return this.table.size + this.relayed.size;
  }

  /** Set at shutdown: datagrams of sessions in progress still flow, new sessions are not opened. */
  draining = false;

  /** Sessions still carrying datagrams (not counting failed ones kept to absorb their flood); walks the table. */
  countOpen(): number {
    let n = this.relayed.size;
    for (const s of this.table.values()) if (s.owner !== 'closed') n++;
    return n;
  }

  /**
   * Idle timeout and cap an inbound's session relay should apply; undefined
   * when none should be offered. The relay gets the whole cap: this module
   * keeps the total (both tables, all inbounds) at or below it before a
   * session is attached, so a relay never evicts by itself first.
   */
  get sessionRelayLimits(): { idleMs: number; maxSessions: number } | undefined {
    return this.opts.sessionRelay === false ? undefined : { idleMs: this.opts.idleMs, maxSessions: this.opts.maxSessions };
  }

  /** Sessions an inbound's relay ended by itself (idle timeout, cap) or at the inbound's close. */
  onSessionsEnded(ends: readonly UdpSessionEnd[]): void {
    for (const end of ends) {
      const s = this.relayed.get(end.id);
      if (!s) continue;
      // The relay no longer has it: nothing to detach.
      s.relay = undefined;
      s.addRelayed(end);
      s.close(end.reason);
    }
  }

  /** One datagram from `src` whose original destination was `dst`, received on `port`. */
  onDatagram(data: Buffer, src: Endpoint, dst: Endpoint, port: DatagramPort): void {
    const key = `${port.inbound}|${src.address}|${src.port}|${dst.address}|${dst.port}`;
    let s = this.table.get(key);
    if (s) this.table.touch(key, s);
    else {
      // Shutting down: sessions in progress drain, no new ones start.
      if (this.draining) return;
      if (this.loopGuard.isLoop(dst)) {
        this.warnings.warn('loop', { src: `${src.address}:${src.port}`, dst: `${dst.address}:${dst.port}` }, 'dropped a datagram to sluice itself (loop)');
        return;
      }
      this.makeRoom();
      s = this.open(key, port, src, dst);
    }
    if (s.owner === 'channel') {
      s.up += data.length;
      s.channel!.send(data, s.sendTo);
    } else if (s.owner === 'dialling' || s.owner === 'sniffing') {
      // Bounded per session and in total; `up` counts only what will be sent.
      const n = data.length;
      if (s.pending.length < this.maxPending && s.pendingBytes + n <= this.maxPendingBytes && this.pendingTotal + n <= this.maxPendingTotal) {
        s.up += n;
        s.pending.push(data);
        s.pendingBytes += n;
        this.pendingTotal += n;
      }
      if (s.sniffer) this.sniff(s, data);
    } else if (s.failedEarly) {
      // One access line for the failed session, then one rate-limited line for the flood, not one per datagram.
      s.dropped++;
      this.warnings.warn(`udp-failing:${s.outbound}`, { outbound: s.outbound, dst: `${dst.address}:${dst.port}`, dropped: s.dropped }, 'dropping datagrams of a session whose route failed');
    }
  }

  /**
   * At the cap, closes the least recently used session of both tables until
   * one more fits: the front of this module's table, or the oldest a relay
   * reports, whichever was idle longer. A relay that cannot report its oldest
   * gives up its earliest attached session (by attach time: an approximation
   * of least recently used).
   */
  private makeRoom(): void {
    while (this.size >= this.opts.maxSessions && this.size > 0) {
      const now = Date.now();
      const local = this.table.values().next().value as UdpSession | undefined;
      let victim: UdpSession | undefined = local;
      let victimIdle = local ? now - local.lastActive : -1;
      for (const relay of this.relays) {
        const oldest = relay.oldest?.();
        const s = oldest ? this.relayed.get(oldest.id) : this.earliestOf(relay);
        if (!s) continue;
        const idle = oldest ? oldest.idleMs : now - s.startedAt;
        if (idle > victimIdle) {
          victim = s;
          victimIdle = idle;
        }
      }
      const before = this.size;
      if (victim) this.evict(victim);
      // Never loop on a session that stays (a relay that lost it, an inbound closing).
      if (!victim || this.size >= before) return;
    }
  }

  /** The earliest attached session of `relay` still attached. */
  private earliestOf(relay: UdpSessionRelay): UdpSession | undefined {
    for (const s of this.relayed.values()) if (s.relay === relay) return s;
    return undefined;
  }

  private evict(s: UdpSession): void {
    // A session kept only to absorb its failed route's flood is already closed: just forget it.
    this.table.delete(s.key, s);
    s.close('session limit');
  }

  private open(key: string, port: DatagramPort, src: Endpoint, dst: Endpoint): UdpSession {
    const flow: FlowMetadata = { id: nextFlowId(), network: 'udp', inbound: port.inbound, src, dst };
    const ctx = new FlowContextImpl(flow, this.logger);
    const session = new UdpSession(
      key,
      ctx,
      port,
      (s, reason) => this.closed(s, reason),
      (bytes) => (this.pendingTotal -= bytes),
    );
    this.table.add(key, session);
    const sniffing = this.opts.sniff?.get(port.inbound);
    if (sniffing) {
      // Routed once the sniffer answers; the caller hands it the datagram that opened the session.
      session.owner = 'sniffing';
      session.sniffer = new DatagramSniffer();
      return session;
    }
    this.route(session, undefined, undefined);
    return session;
  }

  /**
   * Feeds a held datagram to the session's sniffer; routes the session once
   * it has an answer. The timeout starts only when the sniffer asks for more
   * (an incomplete QUIC ClientHello): anything else is routed at once.
   */
  private sniff(s: UdpSession, data: Buffer): void {
    const outcome = s.sniffer!.push(data);
    const sniffing = this.opts.sniff?.get(s.port.inbound);
    if (outcome.kind === 'more') {
      if (sniffing && !s.sniffTimer) s.sniffTimer = setTimeout(() => this.route(s, sniffing, undefined), sniffing.timeoutMs);
      return;
    }
    // Before routing, as a found name is: nothing holds the old context yet.
    if (outcome.kind === 'protocol') s.ctx = new FlowContextImpl({ ...s.ctx.flow, protocol: outcome.protocol }, this.logger);
    this.route(s, sniffing, outcome.kind === 'found' ? outcome.host : undefined);
  }

  /**
   * Routes the session, with the sniffed `host` in its destination when
   * there is one (and in the datagrams' destination too with
   * `override_destination`), then dials.
   */
  private route(s: UdpSession, sniffing: UdpSniffing | undefined, host: string | undefined): void {
    if (s.owner === 'closed') return;
    s.stopSniffing();
    s.owner = 'dialling';
    if (host !== undefined) {
      const { address, port } = s.ctx.flow.dst;
      const flow: FlowMetadata = { ...s.ctx.flow, dst: { address, port, host }, sniffed: 'quic' };
      s.ctx = new FlowContextImpl(flow, this.logger);
      s.sendTo = sniffing?.overrideDestination === true ? flow.dst : { address, port };
    }
    let d: Dispatch | Promise<Dispatch>;
    try {
      d = this.dispatcher.dispatch(s.ctx.flow);
    } catch (err) {
      s.close(describeError(err));
      return;
    }
    if (d instanceof Promise) d.then((r) => this.dial(s, this.named(s, r)), (err: unknown) => s.close(describeError(err)));
    else this.dial(s, this.named(s, d));
  }

  /**
   * After the DNS resolver named the flow (its `dst` now carries the name,
   * and for a fake IP a real address): datagrams go to that destination, so
   * `direct` sends to the real address and SOCKS can send the name.
   */
  private named(s: UdpSession, d: Dispatch): Dispatch {
    if (s.ctx.flow.hostSource === 'dns') s.sendTo = s.ctx.flow.dst;
    return d;
  }

  private closed(s: UdpSession, reason?: string): void {
    // A session that failed before carrying anything stays until it idles out, so its flood finds it.
    if (!s.failedEarly) this.table.delete(s.key, s);
    if (s.relayId !== 0) this.relayed.delete(s.relayId);
    const error = reason === undefined || CLEAN_REASONS.has(reason) ? undefined : reason;
    try {
      logFlowClosed(this.logger, s.ctx.flow, { rule: s.rule, outbound: s.outbound, up: s.up, down: s.down, startedAt: s.startedAt, error }, this.listener);
    } finally {
      // After the session's line and event: releasing the last flow of a reloaded table closes its outbounds.
      s.table?.release();
    }
  }

  /** After routing: the inbound's relay takes the session when both sides can, else a packet channel. */
  private dial(s: UdpSession, d: Dispatch): void {
    if (s.owner === 'closed') return;
    s.rule = d.rule;
    s.outbound = d.target.tag;
    s.table = d.table;
    d.table.acquire();
    reportFlowRouted(this.logger, s.ctx.flow, d.rule, d.target.tag, this.listener);
    const target = d.target;
    const relay = this.opts.sessionRelay === false ? undefined : s.port.sessionRelay;
    try {
      if (!target.dialUdp) throw new SluiceError(ErrorCode.UNSUPPORTED_NETWORK, `outbound "${target.tag}" does not carry udp`);
      if (relay && isUdpFdDialer(target)) {
        this.withConnectTimeout(s, target.dialUdpFd(s.ctx)).then(
          (fd) => (s.owner === 'closed' ? relay.discard(fd) : this.handOver(s, relay, fd)),
          (err: unknown) => s.close(describeError(err)),
        );
        return;
      }
      this.withConnectTimeout(s, target.dialUdp(s.ctx)).then(
        (channel) => (s.owner === 'closed' ? channel.close() : this.useChannel(s, channel)),
        (err: unknown) => s.close(describeError(err)),
      );
    } catch (err) {
      s.close(describeError(err));
    }
  }

  /** `dial`, aborted through the session's signal when `timeouts.connect_ms` runs out. */
  private withConnectTimeout<T>(s: UdpSession, dial: Promise<T>): Promise<T> {
    const ms = this.opts.connectTimeoutMs;
    const timer = setTimeout(() => s.ctx.controller.abort(new SluiceError(ErrorCode.DIAL_TIMEOUT, `connect timeout after ${ms} ms`)), ms);
    return dial.finally(() => clearTimeout(timer));
  }

  /** From here the session's datagrams go through `channel`; the queue first. */
  private useChannel(s: UdpSession, channel: PacketChannel): void {
    const { src } = s.ctx.flow;
    const dst = s.sendTo;
    // A fake IP's session answers from the fake address, whatever address replied.
    const fake = s.ctx.flow.addressedTo;
    s.owner = 'channel';
    s.channel = channel;
    channel.setReceiver({
      onPacket: (payload, from) => {
        s.down += payload.length;
        this.table.touch(s.key, s);
        if (!s.port.sendReply(payload, fake ?? from, src)) s.ctx.logger.debug({ from }, 'reply not sent');
      },
      onClose: (err) => s.close(err ? describeError(err) : 'upstream closed'),
    });
    for (const p of s.takePending()) channel.send(p, dst);
  }

  /** From here the inbound's relay owns the session; its queued datagrams go first. */
  private handOver(s: UdpSession, relay: UdpSessionRelay, fd: number): void {
    const id = ++this.nextRelayId;
    const { src, addressedTo, dst: { address, port } } = s.ctx.flow;
    // The relay answers from this address: the one the client sent to (a fake IP stays fake).
    const dst = addressedTo ?? { address, port };
    const queued = s.takePending();
    let pushedOut: readonly UdpSessionEnd[];
    try {
      pushedOut = relay.attach(id, src, dst, fd, queued);
    } catch (err) {
      for (const q of queued) s.up -= q.length;
      s.close(describeError(err));
      return;
    }
    this.table.delete(s.key, s);
    s.owner = 'relayed';
    s.relayId = id;
    s.relay = relay;
    this.relayed.set(id, s);
    this.relays.add(relay);
    this.onSessionsEnded(pushedOut);
  }

  /** The sessions in progress, for the control API (not those kept only to absorb a failed session's flood). */
  *liveFlows(): IterableIterator<LiveFlow> {
    for (const s of this.table.values()) if (s.owner !== 'closed') yield s;
    yield* this.relayed.values();
  }

  /** Closes every session (shutdown). */
  closeAll(reason = 'shutdown'): void {
    clearInterval(this.sweeper);
    this.table.closeAll(reason);
    for (const s of [...this.relayed.values()]) s.close(reason);
  }
}
