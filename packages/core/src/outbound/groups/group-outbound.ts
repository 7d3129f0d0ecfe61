import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { isTcpFdDialer, isUdpFdDialer, type TcpFdDialer, type UdpFdDialer } from '../../adapter/capabilities';
import type { Destination, FlowContext, FlowMetadata, Network } from '../../adapter/flow';
import type { Outbound, PacketChannel } from '../../adapter/outbound';
import { ErrorCode, SluiceError } from '../../errors';
import { brandGroup, type DelayResult, type DelayTestOptions, type GroupState, type OutboundGroup } from './group-state';
import { HealthMonitor, type Prober } from './health';
import type { CheckSettings, GroupType } from './options';

/** What every group is built from. */
export interface GroupParts {
  readonly tag: string;
  readonly members: readonly Outbound[];
  readonly check: CheckSettings | undefined;
  readonly logger: Logger;
  /** Replaces the HTTP probe (tests). */
  readonly prober?: Prober;
}

/**
 * An outbound that dials through one of its members. Subclasses say only in
 * which order to try the members for a flow ({@link order}); this class
 * records the choice on the flow (the access log's `chain`), tells the
 * health monitor how the dial went, and, when a dial fails for a reason that
 * is the member's, tries the next member in that order (no byte of the flow
 * has been sent yet). Its networks are the union of its members'; a flow
 * goes only to members that carry its network. The fd fast paths are
 * offered when every member that carries the network offers them, so a
 * group of `direct` outbounds keeps the kernel relay.
 */
export abstract class GroupOutbound implements OutboundGroup {
  abstract readonly type: GroupType;
  readonly networks: readonly Network[];
  readonly memberTags: readonly string[];
  protected readonly health: HealthMonitor;
  protected readonly logger: Logger;
  /** The member the last flow went to (what a load-balance group shows as `now`). */
  protected last: string | undefined;
  private readonly byNetwork: Record<Network, readonly Outbound[]>;

  constructor(
    readonly tag: string,
    protected readonly members: readonly Outbound[],
    parts: GroupParts,
  ) {
    this.logger = parts.logger;
    this.memberTags = members.map((m) => m.tag);
    this.byNetwork = { tcp: members.filter((m) => m.networks.includes('tcp')), udp: members.filter((m) => m.networks.includes('udp')) };
    this.networks = (['tcp', 'udp'] as const).filter((n) => this.byNetwork[n].length > 0);
    this.health = new HealthMonitor(members, parts.check, parts.logger, () => this.healthChanged(), parts.prober);
    const tcp = this.byNetwork.tcp;
    if (tcp.length > 0 && tcp.every(isTcpFdDialer)) {
      (this as unknown as TcpFdDialer).dialTcpFd = (dst, ctx) => this.dialThrough(ctx, 'tcp', (m) => (m as Outbound & TcpFdDialer).dialTcpFd(dst, ctx));
    }
    const udp = this.byNetwork.udp;
    if (udp.length > 0 && udp.every(isUdpFdDialer)) {
      (this as unknown as UdpFdDialer).dialUdpFd = (ctx) => this.dialThrough(ctx, 'udp', (m) => (m as Outbound & UdpFdDialer).dialUdpFd(ctx));
    }
    brandGroup(this);
  }

  /**
   * The members to try for `flow`, best first, from `candidates` (the
   * members that carry the flow's network, in config order, never empty).
   * Synchronous: the choice is made when the dial starts, so the `flow`
   * event can name it.
   */
  protected abstract order(candidates: readonly Outbound[], flow: FlowMetadata): readonly Outbound[];

  /** Whether a failed dial moves on to the next member in {@link order} (all but the selector). */
  protected readonly retries: boolean = true;

  /** The current choice, for {@link state}. */
  protected abstract current(): string | undefined;

  /** Health or a delay changed (a url-test group re-decides here). */
  protected healthChanged(): void {}

  dialTcp(dst: Destination, ctx: FlowContext): Promise<Duplex> {
    return this.dialThrough(ctx, 'tcp', (m) => m.dialTcp(dst, ctx));
  }

  dialUdp(ctx: FlowContext): Promise<PacketChannel> {
    return this.dialThrough(ctx, 'udp', (m) => (m.dialUdp ? m.dialUdp(ctx) : Promise.reject(new SluiceError(ErrorCode.UNSUPPORTED_NETWORK, `outbound "${m.tag}" does not carry udp`))));
  }

  private dialThrough<T>(ctx: FlowContext, network: Network, dial: (m: Outbound) => Promise<T>): Promise<T> {
    const candidates = this.byNetwork[network];
    if (candidates.length === 0) {
      return Promise.reject(new SluiceError(ErrorCode.UNSUPPORTED_NETWORK, `group "${this.tag}" has no member that carries ${network}`));
    }
    this.health.noteUse();
    let order: readonly Outbound[];
    try {
      order = this.order(candidates, ctx.flow);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.attempt(order, 0, ctx, dial);
  }

  private attempt<T>(order: readonly Outbound[], i: number, ctx: FlowContext, dial: (m: Outbound) => Promise<T>): Promise<T> {
    const m = order[i]!;
    this.last = m.tag;
    ctx.recordChoice?.(this.tag, m.tag);
    let p: Promise<T>;
    try {
      p = dial(m);
    } catch (err) {
      p = Promise.reject(err);
    }
    return p.then(
      (r) => {
        this.health.reportSuccess(m.tag);
        return r;
      },
      (err: unknown) => {
        // A torn-down flow (client gone, connect timeout, shutdown) says nothing about the member, and cannot go on.
        if (ctx.signal.aborted) throw err;
        this.health.reportFailure(m.tag, err);
        if (!this.retries || i + 1 >= order.length) throw err;
        ctx.logger.debug({ group: this.tag, member: m.tag, err }, 'group member failed; trying the next');
        return this.attempt(order, i + 1, ctx, dial);
      },
    );
  }

  /** Healthy members of `list` first, each part in the order given. */
  protected healthyFirst(list: readonly Outbound[]): Outbound[] {
    const up: Outbound[] = [];
    const down: Outbound[] = [];
    for (const m of list) (this.health.isAlive(m.tag) ? up : down).push(m);
    return up.concat(down);
  }

  state(): GroupState {
    const check = this.health.check;
    const s: { -readonly [K in keyof GroupState]: GroupState[K] } = { tag: this.tag, type: this.type, members: this.memberTags, health: this.health.snapshot() };
    const now = this.current();
    if (now !== undefined) s.now = now;
    if (check) s.check = { url: check.url, intervalMs: check.interval_ms, timeoutMs: check.timeout_ms, lazy: check.lazy };
    return s;
  }

  select(_member: string): void {
    throw new SluiceError(ErrorCode.CONFIG, `outbound "${this.tag}" is a ${this.type} group, not a selector`);
  }

  testDelay(member: string, opts?: DelayTestOptions): Promise<DelayResult> {
    if (!this.memberTags.includes(member)) return Promise.resolve({ ok: false, timeout: false, error: `"${member}" is not a member of group "${this.tag}"` });
    return this.health.test(member, opts);
  }

  recordDelay(member: string, result: DelayResult): void {
    this.health.record(member, result);
  }

  adopt(previous: GroupState): void {
    this.adoptChoice(previous.now);
    this.health.adopt(previous.health);
  }

  /** A url-test group keeps its member across a reload; the others derive theirs. */
  protected adoptChoice(_now: string | undefined): void {}

  testAll(opts?: DelayTestOptions): Promise<Record<string, DelayResult>> {
    return this.health.checkAll(opts);
  }

  async start(): Promise<void> {
    this.health.start();
  }

  /** Members are outbounds of their own and closed by the runtime; the group only stops its checks. */
  async close(): Promise<void> {
    this.health.close();
  }
}
