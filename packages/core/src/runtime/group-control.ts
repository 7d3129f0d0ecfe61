import type { Logger } from 'pino';
import type { Outbound } from '../adapter/outbound';
import { ErrorCode, SluiceError } from '../errors';
import { CHECK_DEFAULTS, isOutboundGroup, probeHttp, type DelayResult, type DelayTestOptions, type GroupState, type OutboundGroup } from '../outbound/groups';

/**
 * The group state API, the same on a {@link Sluice} and on a `WorkerPool`
 * (which asks every worker and merges), so the control server can drive
 * either. Every method settles; errors are `SluiceError`s with code
 * `SLUICE_ERR_CONFIG` (unknown group or member, not a selector).
 */
export interface GroupControl {
  /** Makes `member` the selection of selector `group` for new flows; kept across reloads while the member exists. */
  select(group: string, member: string): Promise<void>;
  /** Every group of the running config: type, members, current choice (`now`), per-member health and delays. */
  groups(): Promise<GroupState[]>;
  /**
   * Requests `opts.url` (default: the `check` default) through outbound `tag`
   * (any outbound; a group dials through its current choice) and returns the
   * delay. The result also goes into the history of every group that has
   * `tag` as a member.
   */
  testDelay(tag: string, opts?: DelayTestOptions): Promise<DelayResult>;
  /** Tests every member of `group` at once (`GET /group/:name/delay`); results by member tag. */
  testGroupDelay(group: string, opts?: DelayTestOptions): Promise<Record<string, DelayResult>>;
}

/** The groups among `outbounds`, in config order. */
export function groupsOf(outbounds: ReadonlyMap<string, Outbound>): OutboundGroup[] {
  return [...outbounds.values()].filter(isOutboundGroup);
}

/** The group `tag` of `outbounds`, or a config error naming what is there instead. */
export function groupNamed(outbounds: ReadonlyMap<string, Outbound>, tag: string): OutboundGroup {
  const o = outbounds.get(tag);
  if (!o) throw new SluiceError(ErrorCode.CONFIG, `no outbound "${tag}"`);
  if (!isOutboundGroup(o)) throw new SluiceError(ErrorCode.CONFIG, `outbound "${tag}" is a ${o.type} outbound, not a group`);
  return o;
}

/**
 * Selections made at run time, replayed onto the selectors of each new route
 * table (a reload). A selection whose group is no longer a selector, or whose
 * member is gone, is dropped: the config's `default` applies again.
 */
export class Selections {
  private readonly chosen = new Map<string, string>();

  constructor(private readonly logger: Logger) {}

  select(outbounds: ReadonlyMap<string, Outbound>, group: string, member: string): void {
    groupNamed(outbounds, group).select(member);
    this.chosen.set(group, member);
  }

  /** Applies the kept selections to the groups in `outbounds`. */
  applyTo(outbounds: ReadonlyMap<string, Outbound>): void {
    for (const [group, member] of this.chosen) {
      const o = outbounds.get(group);
      if (o && isOutboundGroup(o) && o.type === 'selector' && o.memberTags.includes(member)) {
        o.select(member);
        continue;
      }
      this.chosen.delete(group);
      this.logger.info({ group, member }, 'selection dropped: the group or its member is gone');
    }
  }
}

/** Each group of `next` takes over the member health of the group with its tag in `previous` (a reload). */
export function carryGroupHealth(previous: ReadonlyMap<string, Outbound>, next: ReadonlyMap<string, Outbound>): void {
  for (const g of groupsOf(next)) {
    const old = previous.get(g.tag);
    if (old && isOutboundGroup(old)) g.adopt(old.state());
  }
}

/** See {@link GroupControl.testDelay}. */
export async function testDelayThrough(outbounds: ReadonlyMap<string, Outbound>, tag: string, opts: DelayTestOptions, logger: Logger): Promise<DelayResult> {
  const o = outbounds.get(tag);
  if (!o) throw new SluiceError(ErrorCode.CONFIG, `no outbound "${tag}"`);
  const check = isOutboundGroup(o) ? o.state().check : undefined;
  const r = await probeHttp(o, opts.url ?? check?.url ?? CHECK_DEFAULTS.url, opts.timeoutMs ?? check?.timeoutMs ?? CHECK_DEFAULTS.timeout_ms, logger);
  for (const g of groupsOf(outbounds)) if (g.memberTags.includes(tag)) g.recordDelay(tag, r);
  return r;
}
