import type { Api, Rule } from './api';
import { byId, el } from './format';

/** The rules in order with the flows each matched (`GET /rules`), refreshed every 5 s while shown. */
export class RulesView {
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly api: Api) {
    byId('rules-refresh').addEventListener('click', () => void this.load());
  }

  async load(): Promise<void> {
    const { rules } = await this.api.get<{ rules: Rule[] }>('/rules');
    byId('rules-table')
      .querySelector('tbody')!
      .replaceChildren(
        ...rules.map((r) => {
          const tr = el('tr');
          const payload = r.size >= 0 ? `${r.payload} (${r.size} entries)` : r.payload;
          tr.append(
            el('td', String(r.index), { class: 'num', 'data-label': '#' }),
            el('td', r.type, { 'data-label': 'Type' }),
            el('td', payload, { class: 'payload', 'data-label': 'Payload' }),
            el('td', r.proxy, { 'data-label': 'Outbound' }),
            el('td', String(r.hits ?? 0), { class: 'num hits', 'data-label': 'Hits' }),
          );
          return tr;
        }),
      );
    byId('rules-count').textContent = `${rules.length} rules, ${rules.reduce((a, r) => a + (r.hits ?? 0), 0)} flows matched`;
  }

  shown(): void {
    void this.load();
    this.timer ??= setInterval(() => void this.load().catch(() => undefined), 5000);
  }

  hidden(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
