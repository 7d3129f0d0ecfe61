import type { Outbound } from '../../adapter/outbound';
import type { GroupType } from './options';

/**
 * The result of one delay test through an outbound: the time until the HTTP
 * status line arrived, or why there was none (`timeout` true when the test's
 * own time ran out, which the control API answers with 504).
 */
export type DelayResult = { readonly ok: true; readonly delayMs: number } | { readonly ok: false; readonly timeout: boolean; readonly error: string };

/** How a delay test is made; each field defaults to the group's `check` (or to the defaults of `check`). */
export interface DelayTestOptions {
  /** A plain `http://` URL. */
  readonly url?: string;
  readonly timeoutMs?: number;
}

/** One test result kept in a member's history; `delayMs` 0 means the test failed (as Clash's API has it). */
export interface DelaySample {
  /** When the test ended, epoch milliseconds. */
  readonly time: number;
  readonly delayMs: number;
}

/** What a group knows of one member's health. */
export interface GroupMemberState {
  readonly tag: string;
  /** False after a failed check or a failed dial on a real flow, until a check or a dial succeeds. Members start alive. */
  readonly alive: boolean;
  /** The last successful test's delay, in milliseconds. */
  readonly delayMs?: number;
  /** When the member was last tested (checks and on-demand tests), epoch milliseconds. */
  readonly checkedAt?: number;
  /** Why it is down, when it is. */
  readonly error?: string;
  /** The last tests, oldest first (at most 10). */
  readonly history: readonly DelaySample[];
}

/** A snapshot of one outbound group, as `sluice.groups()` returns it. */
export interface GroupState {
  readonly tag: string;
  readonly type: GroupType;
  /** Member tags, in config order. */
  readonly members: readonly string[];
  /**
   * The current choice: the selected member (`selector`), the first healthy
   * one (`fallback`), the fastest (`url-test`); for `load-balance`, the member
   * the last flow went to. Undefined before a load-balance group carried a flow.
   */
  readonly now?: string;
  readonly health: readonly GroupMemberState[];
  /** The health check, when the group runs one on a timer. */
  readonly check?: { readonly url: string; readonly intervalMs: number; readonly timeoutMs: number; readonly lazy: boolean };
}

/**
 * What the runtime needs of a group outbound besides {@link Outbound}. Only
 * core's group types implement it; {@link isOutboundGroup} tells them apart.
 */
export interface OutboundGroup extends Outbound {
  readonly type: GroupType;
  /** Member tags, in config order. */
  readonly memberTags: readonly string[];
  /** A snapshot of the group's choice and its members' health. */
  state(): GroupState;
  /**
   * Makes `member` the selection of a `selector`. Throws a `SLUICE_ERR_CONFIG`
   * error when this group is not a selector or `member` is not one of its members.
   */
  select(member: string): void;
  /** Tests `member` now through the member itself; the result goes into its health and history. */
  testDelay(member: string, opts?: DelayTestOptions): Promise<DelayResult>;
  /** Takes a delay test of `member` made elsewhere (through the member directly) into its health and history. */
  recordDelay(member: string, result: DelayResult): void;
  /** Takes over the member health of the group this one replaces (same tag, previous config); see `HealthMonitor.adopt`. */
  adopt(previous: GroupState): void;
  /** Tests every member at once (`GET /group/:name/delay`); results by member tag. */
  testAll(opts?: DelayTestOptions): Promise<Record<string, DelayResult>>;
}

const kGroup = Symbol.for('sluice.outboundGroup');

/** Brands `o` as an {@link OutboundGroup} (by a `Symbol.for` brand, so duplicate copies of core agree). */
export function brandGroup(o: OutboundGroup): void {
  Object.defineProperty(o, kGroup, { value: true });
}

/** True when `o` is one of core's outbound groups. */
export function isOutboundGroup(o: Outbound): o is OutboundGroup {
  return (o as unknown as Record<symbol, unknown>)[kGroup] === true;
}
