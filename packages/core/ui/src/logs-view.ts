import type { Api, LogLine } from './api';
import { byId, el } from './format';

/** Lines kept on the page. */
const MAX_LINES = 500;

/** The live log (`/logs?level=`), newest at the bottom, with a level, a pause and a clear. */
export class LogsView {
  private stream: { close(): void } | undefined;
  private paused = false;
  private readonly list = byId<HTMLOListElement>('log-lines');
  private readonly level = byId<HTMLSelectElement>('log-level');

  constructor(private readonly api: Api) {
    this.level.addEventListener('change', () => this.connect());
    const pause = byId('log-pause');
    pause.addEventListener('click', () => {
      this.paused = !this.paused;
      pause.textContent = this.paused ? 'Resume' : 'Pause';
    });
    byId('log-clear').addEventListener('click', () => this.list.replaceChildren());
    this.connect();
  }

  private connect(): void {
    this.stream?.close();
    this.stream = this.api.stream<LogLine>(`/logs?level=${encodeURIComponent(this.level.value)}`, (line) => this.add(line));
  }

  /** The tab is shown: the newest lines in view. */
  shown(): void {
    this.list.scrollTop = this.list.scrollHeight;
  }

  private add(line: LogLine): void {
    if (this.paused) return;
    const atBottom = this.list.scrollTop + this.list.clientHeight >= this.list.scrollHeight - 4;
    const time = new Date().toLocaleTimeString();
    const item = el('li', '', { class: `level-${line.type}` });
    item.append(el('time', time), el('span', line.type, { class: 'level' }), el('span', line.payload));
    this.list.append(item);
    while (this.list.children.length > MAX_LINES) this.list.firstElementChild?.remove();
    if (atBottom) this.list.scrollTop = this.list.scrollHeight;
  }
}
