import type { GroupsView, ProxyState } from './groups-view';
import type { ControlTarget } from './target';

const GROUP_TYPES = new Set(['Selector', 'URLTest', 'Fallback', 'LoadBalance']);

/**
 * The synthetic `GLOBAL` selector of the Clash API: what `mode: global`
 * sends every flow to. Its members are the groups first, then the other
 * outbounds; until one is chosen it is `route.final`.
 */
export class GlobalSelection {
  private chosen: string | undefined;

  constructor(
    private readonly target: ControlTarget,
    private readonly groups: GroupsView,
  ) {}

  /** The selected member (a chosen one that a reload removed falls back to `route.final`). */
  async now(): Promise<string> {
    return this.nowOf(members(await this.groups.list()));
  }

  private nowOf(all: readonly string[]): string {
    return this.chosen !== undefined && all.includes(this.chosen) ? this.chosen : this.target.config().route.final;
  }

  /** `GLOBAL` as `GET /proxies` shows it, from `list` (what {@link GroupsView.list} gave). */
  state(list: readonly ProxyState[]): ProxyState {
    const all = members(list);
    return { name: 'GLOBAL', type: 'Selector', udp: true, alive: true, history: [], now: this.nowOf(all), all };
  }

  /** Selects `member`; in `global` mode new flows go there at once. */
  async select(member: string): Promise<void> {
    if (!members(await this.groups.list()).includes(member)) throw new Error(`Selector update error: proxy not exist`);
    this.chosen = member;
    if (this.target.mode === 'global') await this.target.setMode('global', member);
  }
}

/** The members of `GLOBAL`: the groups first, then the other outbounds. */
function members(list: readonly ProxyState[]): string[] {
  return [...list.filter((p) => GROUP_TYPES.has(p.type)), ...list.filter((p) => !GROUP_TYPES.has(p.type))].map((p) => p.name);
}
