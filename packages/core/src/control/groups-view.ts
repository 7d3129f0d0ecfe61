import type { OutboundEntry } from '../config/types';
import type { DelayRecord } from './clash-types';

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
 * What the control API needs of outbounds and groups. Today it is backed by
 * the config's outbounds ({@link OutboundsView}); when groups land, an
 * adapter over `sluice.groups()` / `sluice.select()` takes its place.
 */
export interface GroupsView {
  /** Every outbound and group, groups first (not the synthetic `GLOBAL`). */
  list(): readonly ProxyState[];
  /** Makes `member` the selection of selector `group`; throws {@link NotSelectorError} for anything else. */
  select(group: string, member: string): Promise<void>;
  /** Times an HTTP GET of `url` through `name` (ms); rejects with {@link DelayTimeoutError} after `timeoutMs`. The result goes into `history`. */
  delay(name: string, url: string, timeoutMs: number): Promise<number>;
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

/** Runs one delay test through an outbound; see {@link GroupsView.delay}. */
export type DelayTester = (outbound: string, url: string, timeoutMs: number) => Promise<number>;

const HISTORY = 10;

/** {@link GroupsView} over plain outbounds (no groups yet), with delay tests and their history. */
export class OutboundsView implements GroupsView {
  private readonly history = new Map<string, DelayRecord[]>();

  constructor(
    private readonly outbounds: () => readonly OutboundEntry[],
    private readonly tester: DelayTester,
  ) {}

  list(): readonly ProxyState[] {
    return this.outbounds().map((o) => {
      const history = this.history.get(o.tag) ?? [];
      const last = history[history.length - 1];
      const networks = o.raw.network;
      const udp = o.type !== 'block' && (networks === undefined || (Array.isArray(networks) && networks.includes('udp')) || networks === 'udp');
      return { name: o.tag, type: clashTypeOf(o), udp, alive: last === undefined || last.delay > 0, history };
    });
  }

  select(): Promise<void> {
    return Promise.reject(new NotSelectorError());
  }

  async delay(name: string, url: string, timeoutMs: number): Promise<number> {
    let delay = 0;
    try {
      delay = await this.tester(name, url, timeoutMs);
      return delay;
    } finally {
      const h = this.history.get(name) ?? [];
      h.push({ time: new Date().toISOString(), delay });
      if (h.length > HISTORY) h.shift();
      this.history.set(name, h);
    }
  }
}
