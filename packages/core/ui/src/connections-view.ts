import type { Api, Connection, ConnectionsSnapshot } from './api';
import { byId, el, formatAge, formatBytes } from './format';

/** A connection as the table shows and sorts it. */
interface Row {
  id: string;
  host: string;
  network: string;
  source: string;
  /** Destination IP, for the filter. */
  ip: string;
  rule: string;
  outbound: string;
  upload: number;
  download: number;
  start: string;
}

type SortKey = Exclude<keyof Row, 'id' | 'ip'>;

function toRow(c: Connection): Row {
  const m = c.metadata;
  const dst = m.destinationIP.includes(':') ? `[${m.destinationIP}]` : m.destinationIP;
  return {
    id: c.id,
    host: `${m.host !== '' ? m.host : dst}:${m.destinationPort}`,
    network: m.network,
    source: `${m.sourceIP}:${m.sourcePort}`,
    ip: m.destinationIP,
    rule: c.rulePayload !== '' ? `${c.rule}(${c.rulePayload})` : c.rule,
    // Clash lists the final outbound first; the table reads group → member.
    outbound: [...c.chains].reverse().join(' → '),
    upload: c.upload,
    download: c.download,
    start: c.start,
  };
}

/**
 * Live connections (the `/connections` WebSocket, every second): sortable by
 * any column, filtered by host, IP, rule or outbound, each closable, or all.
 */
export class ConnectionsView {
  private rows: Row[] = [];
  private sortKey: SortKey = 'start';
  private descending = true;
  private readonly body = byId('conn-table').querySelector('tbody')!;
  private readonly filter = byId<HTMLInputElement>('conn-filter');

  constructor(private readonly api: Api) {
    this.filter.addEventListener('input', () => this.render());
    for (const th of byId('conn-table').querySelectorAll<HTMLElement>('th[data-key]')) {
      th.addEventListener('click', () => {
        const key = th.dataset.key as SortKey;
        this.descending = key === this.sortKey ? !this.descending : key !== 'host' && key !== 'network' && key !== 'source' && key !== 'rule' && key !== 'outbound';
        this.sortKey = key;
        this.render();
      });
    }
    byId('conn-close-all').addEventListener('click', () => {
      if (confirm('Close every connection?')) void this.api.request('DELETE', '/connections');
    });
    this.body.addEventListener('click', (e) => {
      const button = (e.target as HTMLElement).closest<HTMLButtonElement>('button[data-close]');
      if (button) void this.api.request('DELETE', `/connections/${encodeURIComponent(button.dataset.close!)}`);
    });
    api.stream<ConnectionsSnapshot>('/connections?interval=1000', (s) => {
      this.rows = s.connections.map(toRow);
      this.render();
    });
  }

  private visible(): Row[] {
    const q = this.filter.value.trim().toLowerCase();
    const rows = q === '' ? [...this.rows] : this.rows.filter((r) => [r.host, r.ip, r.source, r.rule, r.outbound].some((v) => v.toLowerCase().includes(q)));
    const k = this.sortKey;
    const sign = this.descending ? -1 : 1;
    // `start` sorts by time: the newest first when descending.
    rows.sort((a, b) => sign * (typeof a[k] === 'number' ? (a[k] as number) - (b[k] as number) : String(a[k]).localeCompare(String(b[k]))));
    return rows;
  }

  /** The tab is shown: the ages move on. */
  shown(): void {
    this.render();
  }

  private render(): void {
    const rows = this.visible();
    const now = Date.now();
    this.body.replaceChildren(
      ...rows.map((r) => {
        const tr = el('tr', '', { 'data-id': r.id });
        const close = el('button', '✕', { 'data-close': r.id, title: 'Close this connection', 'aria-label': `close ${r.host}` });
        const cells = [
          el('td', r.host, { class: 'host', 'data-label': 'Host' }),
          el('td', r.network, { 'data-label': 'Net' }),
          el('td', r.source, { 'data-label': 'Source' }),
          el('td', r.rule, { class: 'rule', 'data-label': 'Rule' }),
          el('td', r.outbound, { class: 'outbound', 'data-label': 'Outbound' }),
          el('td', formatBytes(r.upload), { class: 'num', 'data-label': 'Up' }),
          el('td', formatBytes(r.download), { class: 'num', 'data-label': 'Down' }),
          el('td', formatAge(r.start, now), { class: 'num', 'data-label': 'Age' }),
          el('td'),
        ];
        cells[8]!.append(close);
        tr.append(...cells);
        return tr;
      }),
    );
    for (const th of byId('conn-table').querySelectorAll<HTMLElement>('th[data-key]')) {
      th.classList.toggle('sorted', th.dataset.key === this.sortKey);
      th.classList.toggle('desc', th.dataset.key === this.sortKey && this.descending);
    }
    byId('conn-count').textContent = `${rows.length} of ${this.rows.length}`;
  }
}
