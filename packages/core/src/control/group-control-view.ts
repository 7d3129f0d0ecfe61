import type { OutboundEntry } from '../config/types';
import type { DelayResult, GroupState } from '../outbound/groups';
import type { DelayRecord } from './clash-types';
import { clashTypeOf, DelayTimeoutError, NotSelectorError, type GroupControlPort, type GroupsView, type ProxyState } from './groups-view';

const HISTORY = 10;

/** A failed delay test as the routes answer it: a timeout is 504, anything else 503. */
function delayOf(r: DelayResult): number {
  if (r.ok) return r.delayMs;
  throw r.timeout ? new DelayTimeoutError() : new Error(r.error);
}

function udpOf(o: OutboundEntry): boolean {
  const networks = o.raw.network;
  return o.type !== 'block' && (networks === undefined || networks === 'udp' || (Array.isArray(networks) && networks.includes('udp')));
}

/**
 * {@link GroupsView} over the runtime's {@link GroupControlPort} (a Sluice, or a
 * worker pool that merges its workers' groups). A group member's `alive` and
 * `history` are its group's health (checks and delay tests alike); an
 * outbound in no group keeps the history of the delay tests made here.
 */
export class GroupControlView implements GroupsView {
  /** Delay tests of outbounds that no group watches. */
  private readonly history = new Map<string, DelayRecord[]>();

  constructor(
    private readonly outbounds: () => readonly OutboundEntry[],
    private readonly control: GroupControlPort,
  ) {}

  async list(): Promise<readonly ProxyState[]> {
    const groups = await this.control.groups();
    const byTag = new Map(groups.map((g) => [g.tag, g]));
    const health = new Map<string, { alive: boolean; history: DelayRecord[] }>();
    for (const g of groups) {
      for (const m of g.health) {
        const seen = health.get(m.tag);
        const history = m.history.map((h) => ({ time: new Date(h.time).toISOString(), delay: h.delayMs }));
        // A member of several groups: the group that tested it last knows best.
        if (!seen || lastTime(history) > lastTime(seen.history)) health.set(m.tag, { alive: m.alive, history });
      }
    }
    const state = (o: OutboundEntry): ProxyState => {
      const own = this.history.get(o.tag) ?? [];
      const h = health.get(o.tag) ?? { alive: own.length === 0 || own[own.length - 1]!.delay > 0, history: own };
      const g = byTag.get(o.tag);
      if (!g) return { name: o.tag, type: clashTypeOf(o), udp: udpOf(o), alive: h.alive, history: h.history };
      return { name: o.tag, type: clashTypeOf(o), udp: true, alive: h.alive && anyAlive(g), history: h.history, now: g.now ?? '', all: g.members };
    };
    const all = this.outbounds();
    return [...all.filter((o) => byTag.has(o.tag)), ...all.filter((o) => !byTag.has(o.tag))].map(state);
  }

  async select(group: string, member: string): Promise<void> {
    const g = (await this.control.groups()).find((x) => x.tag === group);
    if (g?.type !== 'selector') throw new NotSelectorError();
    await this.control.select(group, member);
  }

  async delay(name: string, url: string, timeoutMs: number): Promise<number> {
    const watched = (await this.control.groups()).some((g) => g.members.includes(name));
    const r = await this.control.testDelay(name, { url, timeoutMs });
    // The runtime keeps the result in the history of the groups that have `name` as a member; the rest is kept here.
    if (!watched) this.record(name, r.ok ? r.delayMs : 0);
    return delayOf(r);
  }

  async groupDelay(name: string, url: string, timeoutMs: number): Promise<Record<string, number> | undefined> {
    if (!(await this.control.groups()).some((g) => g.tag === name)) return undefined;
    const results = await this.control.testGroupDelay(name, { url, timeoutMs });
    // As mihomo: the members that answered, each with its delay.
    const out: Record<string, number> = {};
    for (const [member, r] of Object.entries(results)) if (r.ok) out[member] = r.delayMs;
    return out;
  }

  private record(name: string, delay: number): void {
    const h = this.history.get(name) ?? [];
    h.push({ time: new Date().toISOString(), delay });
    if (h.length > HISTORY) h.shift();
    this.history.set(name, h);
  }
}

function lastTime(history: readonly DelayRecord[]): number {
  const last = history[history.length - 1];
  return last ? Date.parse(last.time) : -1;
}

function anyAlive(g: GroupState): boolean {
  return g.health.length === 0 || g.health.some((m) => m.alive);
}
