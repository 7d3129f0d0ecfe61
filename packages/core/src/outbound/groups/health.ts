import type { Logger } from 'pino';
import type { Outbound } from '../../adapter/outbound';
import { describeError, ErrorCode, isSluiceError } from '../../errors';
import type { DelayResult, DelaySample, DelayTestOptions, GroupMemberState } from './group-state';
import { probeHttp } from './http-probe';
import { CHECK_DEFAULTS, type CheckSettings } from './options';

const HISTORY = 10;

/** A member's health as a group keeps it. */
class MemberHealth {
  alive = true;
  delayMs: number | undefined;
  checkedAt: number | undefined;
  error: string | undefined;
  readonly history: DelaySample[] = [];
  recheck: NodeJS.Timeout | undefined;
  constructor(readonly outbound: Outbound) {}

  snapshot(): GroupMemberState {
    const s: { -readonly [K in keyof GroupMemberState]: GroupMemberState[K] } = { tag: this.outbound.tag, alive: this.alive, history: [...this.history] };
    if (this.delayMs !== undefined) s.delayMs = this.delayMs;
    if (this.checkedAt !== undefined) s.checkedAt = this.checkedAt;
    if (this.error !== undefined) s.error = this.error;
    return s;
  }
}

/** How a health monitor tests a member; {@link probeHttp} unless a test injects another. */
export type Prober = (member: Outbound, url: string, timeoutMs: number, signal: AbortSignal) => Promise<DelayResult>;

/** True for dial failures that say nothing about the member (a `block` member, a flow torn down). */
function blamesMember(err: unknown): boolean {
  return !(isSluiceError(err) && (err.code === ErrorCode.BLOCKED || err.code === ErrorCode.SHUTDOWN));
}

/**
 * The health of a group's members: checks through each member on a timer
 * (`check`), marks a member down when a check fails or a real flow's dial
 * through it fails, and re-checks a down member sooner than the interval
 * ({@link recheckMs}). With `lazy`, a timer tick checks only when a flow used
 * the group since the last check. Timers are unref'd and end at
 * {@link close}; probes never reject.
 */
export class HealthMonitor {
  private readonly members = new Map<string, MemberHealth>();
  private timer: NodeJS.Timeout | undefined;
  private used = false;
  private checkedOnce = false;
  private closed = false;
  private readonly closing = new AbortController();
  private readonly probe: Prober;

  constructor(
    members: readonly Outbound[],
    readonly check: CheckSettings | undefined,
    private readonly logger: Logger,
    /** Told after any member's health or delay changed. */
    private readonly onChange: () => void,
    prober?: Prober,
  ) {
    for (const m of members) this.members.set(m.tag, new MemberHealth(m));
    this.probe = prober ?? ((member, url, timeoutMs, signal) => probeHttp(member, url, timeoutMs, logger, signal));
  }

  /** How soon a member marked down is tested again: a tenth of the interval, at least 1 s, at most the interval. */
  get recheckMs(): number {
    const interval = this.check?.interval_ms ?? CHECK_DEFAULTS.interval_ms;
    return Math.min(interval, Math.max(1000, Math.floor(interval / 10)));
  }

  /** Starts the check timer (the first check runs now unless `lazy`). */
  start(): void {
    if (!this.check || this.closed) return;
    this.timer = setInterval(() => this.tick(), this.check.interval_ms);
    this.timer.unref();
    if (!this.check.lazy) void this.checkAll();
  }

  private tick(): void {
    if (this.check?.lazy && !this.used) return;
    void this.checkAll();
  }

  /** A flow is using the group: a lazy group that was never checked is checked now. */
  noteUse(): void {
    this.used = true;
    if (this.check?.lazy && !this.checkedOnce) void this.checkAll();
  }

  /** Whether member `tag` is up (members start up; unknown tags are not). */
  isAlive(tag: string): boolean {
    return this.members.get(tag)?.alive ?? false;
  }

  /** The last measured delay, or undefined when never measured or down. */
  delayOf(tag: string): number | undefined {
    const m = this.members.get(tag);
    return m?.alive ? m.delayMs : undefined;
  }

  /** Every member's health, in config order. */
  snapshot(): GroupMemberState[] {
    return [...this.members.values()].map((m) => m.snapshot());
  }

  /** Tests every member through its configured check (or `opts`). */
  async checkAll(opts?: DelayTestOptions): Promise<Record<string, DelayResult>> {
    this.used = false;
    this.checkedOnce = true;
    const out: Record<string, DelayResult> = {};
    await Promise.all([...this.members.keys()].map(async (tag) => (out[tag] = await this.test(tag, opts))));
    return out;
  }

  /** Tests one member now; its health follows the result. Never rejects. */
  async test(tag: string, opts: DelayTestOptions = {}): Promise<DelayResult> {
    const m = this.members.get(tag);
    if (!m) return { ok: false, timeout: false, error: `"${tag}" is not a member` };
    const url = opts.url ?? this.check?.url ?? CHECK_DEFAULTS.url;
    const timeoutMs = opts.timeoutMs ?? this.check?.timeout_ms ?? CHECK_DEFAULTS.timeout_ms;
    let r: DelayResult;
    try {
      r = await this.probe(m.outbound, url, timeoutMs, this.closing.signal);
    } catch (err) {
      r = { ok: false, timeout: false, error: describeError(err) };
    }
    this.record(tag, r);
    return r;
  }

  /** Takes the result of a test made elsewhere (`sluice.testDelay` through the member itself) as this member's. */
  record(tag: string, r: DelayResult): void {
    const m = this.members.get(tag);
    if (!m || this.closed) return;
    m.checkedAt = Date.now();
    m.history.push({ time: m.checkedAt, delayMs: r.ok ? r.delayMs : 0 });
    if (m.history.length > HISTORY) m.history.shift();
    if (r.ok) {
      m.delayMs = r.delayMs;
      this.markUp(m);
    } else {
      this.markDown(m, r.error, 'check');
    }
    this.onChange();
  }

  /** A real flow's dial through `tag` failed: unless the error is not the member's, it is down until re-checked. */
  reportFailure(tag: string, err: unknown): void {
    const m = this.members.get(tag);
    if (!m || this.closed || !blamesMember(err)) return;
    this.markDown(m, describeError(err), 'flow');
    this.onChange();
  }

  /** A real flow's dial through `tag` succeeded: it is up. */
  reportSuccess(tag: string): void {
    const m = this.members.get(tag);
    if (!m || m.alive || this.closed) return;
    this.markUp(m);
    this.onChange();
  }

  private markUp(m: MemberHealth): void {
    if (!m.alive) this.logger.info({ member: m.outbound.tag }, 'group member is up');
    m.alive = true;
    m.error = undefined;
    clearTimeout(m.recheck);
    m.recheck = undefined;
  }

  private markDown(m: MemberHealth, error: string, by: 'check' | 'flow'): void {
    if (m.alive) this.logger.warn({ member: m.outbound.tag, error, by }, 'group member is down');
    m.alive = false;
    m.error = error;
    // A group without a check (a selector) is not probed on its own: a later dial that works brings the member back.
    if (m.recheck || this.closed || !this.check) return;
    m.recheck = setTimeout(() => {
      m.recheck = undefined;
      if (!m.alive) void this.test(m.outbound.tag);
    }, this.recheckMs);
    m.recheck.unref();
  }

  /**
   * Takes over what a previous generation of this group knew (a reload):
   * each member with the same tag gets its health, delay and history, so a
   * reload does not send flows to a member known to be down. A down member
   * is re-checked soon, as after any failure.
   */
  adopt(previous: readonly GroupMemberState[]): void {
    for (const p of previous) {
      const m = this.members.get(p.tag);
      if (!m || m.checkedAt !== undefined) continue;
      m.delayMs = p.delayMs;
      m.checkedAt = p.checkedAt;
      m.history.push(...p.history.slice(-HISTORY));
      if (p.alive) this.markUp(m);
      else this.markDown(m, p.error ?? 'down before the reload', 'check');
    }
    this.onChange();
  }

  /** Stops the timers and ends the probes in flight. */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const m of this.members.values()) clearTimeout(m.recheck);
    this.closing.abort();
  }
}
