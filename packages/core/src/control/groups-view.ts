import type { OutboundEntry } from '../config/types';
import type { DelayResult, DelayTestOptions, GroupState } from '../outbound/groups';
import type { DelayRecord } from './clash-types';

/**
 * What the control API drives groups through: the runtime's `GroupControl`
 * (a Sluice, or a worker pool that merges its workers), restated here so
 * that control/ does not import runtime/ (which loads control/).
 */
export interface GroupControlPort {
  select(group: string, member: string): Promise<void>;
  groups(): Promise<GroupState[]>;
  testDelay(tag: string, opts?: DelayTestOptions): Promise<DelayResult>;
  testGroupDelay(group: string, opts?: DelayTestOptions): Promise<Record<string, DelayResult>>;
}

/** One outbound or group as `GET /proxies` shows it. */
export interface ProxyState {
  readonly name: string;
  /** In Clash's words: `Direct`, `Reject`, `Socks5`, `Selector`, `URLTest`, `Fallback`, `LoadBalance`, `Relay`… */
  readonly type: string;
  readonly udp: boolean;
  readonly alive: boolean;
  readonly history: readonly DelayRecord[];
  /** Groups: the member in use, and every member. */
  readonly now?: string;
  readonly all?: readonly string[];
}

/**
 * What the control API needs of outbounds and groups; `GroupControlView`
 * implements it over the runtime's group control (a Sluice or a worker pool).
 */
export interface GroupsView {
  /** Every outbound and group, groups first (not the synthetic `GLOBAL`). */
  list(): Promise<readonly ProxyState[]>;
  /** Makes `member` the selection of selector `group`; throws {@link NotSelectorError} for anything else. */
  select(group: string, member: string): Promise<void>;
  /** Times an HTTP GET of `url` through `name` (ms); rejects with {@link DelayTimeoutError} after `timeoutMs`. The result goes into `history`. */
  delay(name: string, url: string, timeoutMs: number): Promise<number>;
  /**
   * Tests every member of group `name` at once: the delay of each member that
   * answered. Undefined when `name` is no group of the running config.
   */
  groupDelay(name: string, url: string, timeoutMs: number): Promise<Record<string, number> | undefined>;
}

/** `PUT /proxies/:name` on something that is not a selector. */
export class NotSelectorError extends Error {
  constructor() {
    super('Must be a Selector');
  }
}

/** A delay test that ran out of time. */
export class DelayTimeoutError extends Error {
  constructor() {
    super('Timeout');
  }
}

const CLASH_TYPES: Record<string, string> = {
  direct: 'Direct',
  block: 'Reject',
  socks: 'Socks5',
  http: 'Http',
  selector: 'Selector',
  'url-test': 'URLTest',
  fallback: 'Fallback',
  'load-balance': 'LoadBalance',
};

/** An outbound's type in Clash's words; an outbound chained with `via` is a `Relay`. */
export function clashTypeOf(entry: OutboundEntry): string {
  if (entry.raw.via !== undefined) return 'Relay';
  return CLASH_TYPES[entry.type] ?? entry.type.charAt(0).toUpperCase() + entry.type.slice(1);
}

