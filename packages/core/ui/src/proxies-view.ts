import type { Api, Proxy } from './api';
import { byId, el } from './format';

const URL_KEY = 'sluice.delayUrl';
const DEFAULT_URL = 'https://www.gstatic.com/generate_204';

/** The latest delay of a proxy as text: `123 ms`, `timeout`, or nothing yet. */
function delayText(p: Proxy | undefined): string {
  const last = p?.history[p.history.length - 1];
  if (!last) return '';
  return last.delay > 0 ? `${last.delay} ms` : 'timeout';
}

/**
 * Groups with their members (a selector's member is chosen by clicking it)
 * and every outbound, each with a latency test run by Sluice (`/proxies/:name/delay`,
 * `/group/:name/delay`) against the URL set here.
 */
export class ProxiesView {
  private proxies: Record<string, Proxy> = {};
  private readonly url = byId<HTMLInputElement>('delay-url');

  constructor(private readonly api: Api) {
    this.url.value = localStorage.getItem(URL_KEY) ?? DEFAULT_URL;
    this.url.addEventListener('change', () => localStorage.setItem(URL_KEY, this.url.value));
    byId('proxies-refresh').addEventListener('click', () => void this.load());
    byId('view-proxies').addEventListener('click', (e) => void this.onClick(e.target as HTMLElement));
  }

  private async onClick(target: HTMLElement): Promise<void> {
    const pick = target.closest<HTMLElement>('[data-select]');
    if (pick) {
      await this.api.request('PUT', `/proxies/${encodeURIComponent(pick.dataset.group!)}`, { name: pick.dataset.select });
      return this.load();
    }
    const test = target.closest<HTMLButtonElement>('[data-delay]');
    if (test) {
      test.disabled = true;
      const query = `url=${encodeURIComponent(this.url.value)}&timeout=5000`;
      const name = encodeURIComponent(test.dataset.delay!);
      // A failed test is in the proxy's history too: the reload shows it.
      await this.api.get(test.dataset.kind === 'group' ? `/group/${name}/delay?${query}` : `/proxies/${name}/delay?${query}`).catch(() => undefined);
      test.disabled = false;
      return this.load();
    }
  }

  async load(): Promise<void> {
    this.proxies = (await this.api.get<{ proxies: Record<string, Proxy> }>('/proxies')).proxies;
    const all = Object.values(this.proxies);
    byId('groups').replaceChildren(...all.filter((p) => p.all !== undefined).map((g) => this.group(g)));
    byId('outbounds').replaceChildren(...all.filter((p) => p.all === undefined).map((p) => this.card(p)));
  }

  private group(g: Proxy): HTMLElement {
    const box = el('div', '', { class: 'group', 'data-name': g.name });
    const head = el('div', '', { class: 'group-head' });
    head.append(el('h3', g.name), el('span', g.type, { class: 'muted' }), el('span', `now: ${g.now ?? ''}`, { class: 'now' }));
    head.append(el('button', 'Test', { 'data-delay': g.name, 'data-kind': 'group', 'aria-label': `test ${g.name}` }));
    const members = el('div', '', { class: 'cards' });
    for (const name of g.all ?? []) {
      const card = this.card(this.proxies[name] ?? { name, type: '', alive: true, history: [] }, g);
      members.append(card);
    }
    box.append(head, members);
    return box;
  }

  /** One outbound; inside a selector, clicking it selects it. */
  private card(p: Proxy, group?: Proxy): HTMLElement {
    const selectable = group?.type === 'Selector';
    const card = el('div', '', { class: 'card', 'data-name': p.name });
    if (group?.now === p.name) card.classList.add('selected');
    if (!p.alive) card.classList.add('down');
    if (selectable) Object.assign(card.dataset, { select: p.name, group: group.name });
    card.append(el('b', p.name), el('span', p.type, { class: 'muted' }), el('span', delayText(p), { class: 'delay' }));
    if (!group) card.append(el('button', 'Test', { 'data-delay': p.name, 'aria-label': `test ${p.name}` }));
    return card;
  }

  shown(): void {
    void this.load();
  }
}
