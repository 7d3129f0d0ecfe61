import uPlot from 'uplot';
import type { Api, ConnectionsSnapshot } from './api';
import { byId, formatBytes } from './format';

/** Seconds of history the chart keeps: the last five minutes. */
const WINDOW = 300;

/**
 * Upload and download per second (the `/traffic` WebSocket) over the last
 * five minutes, as a uPlot line chart, with the last second, the peak of the
 * window and the totals as text.
 */
export class TrafficView {
  private readonly times: number[] = [];
  private readonly up: number[] = [];
  private readonly down: number[] = [];
  private chart: uPlot | undefined;
  private readonly box = byId('traffic-chart');

  constructor(api: Api) {
    api.stream<{ up: number; down: number }>('/traffic', (t) => this.add(t.up, t.down));
    // Totals come with the connection snapshots; one request every few seconds is enough for a label.
    const totals = (): void => {
      api
        .get<ConnectionsSnapshot>('/connections')
        .then((s) => (byId('traffic-total').textContent = `↑ ${formatBytes(s.uploadTotal)} ↓ ${formatBytes(s.downloadTotal)}`))
        .catch(() => undefined);
    };
    totals();
    setInterval(totals, 5000);
    new ResizeObserver(() => this.chart?.setSize(this.size())).observe(this.box);
  }

  private size(): { width: number; height: number } {
    const width = Math.max(240, this.box.clientWidth);
    return { width, height: Math.min(320, Math.round(width * 0.5)) };
  }

  private add(up: number, down: number): void {
    this.times.push(Date.now() / 1000);
    this.up.push(up);
    this.down.push(down);
    if (this.times.length > WINDOW) {
      this.times.shift();
      this.up.shift();
      this.down.shift();
    }
    const now = byId('traffic-now');
    now.textContent = `↑ ${formatBytes(up)}/s ↓ ${formatBytes(down)}/s`;
    Object.assign(now.dataset, { up: String(up), down: String(down) });
    const peakUp = Math.max(...this.up);
    const peakDown = Math.max(...this.down);
    const peak = byId('traffic-peak');
    peak.textContent = `↑ ${formatBytes(peakUp)}/s ↓ ${formatBytes(peakDown)}/s`;
    Object.assign(peak.dataset, { up: String(peakUp), down: String(peakDown) });
    this.box.dataset.samples = String(this.times.length);
    this.draw();
  }

  private draw(): void {
    const data: uPlot.AlignedData = [this.times, this.up, this.down];
    // A hidden tab has no width yet: draw once it is shown.
    if (this.box.clientWidth === 0) return;
    if (this.chart) {
      this.chart.setData(data);
      return;
    }
    const value = (_u: uPlot, v: number | null): string => (v === null ? '' : `${formatBytes(v)}/s`);
    this.chart = new uPlot(
      {
        ...this.size(),
        series: [{}, { label: 'Up', stroke: '#e07a1f', width: 2, value }, { label: 'Down', stroke: '#1f7ae0', width: 2, value }],
        // Wall-clock seconds on x (uPlot's default would show milliseconds at this span); bytes per second on y.
        axes: [
          { space: 90, incrs: [1, 5, 10, 15, 30, 60, 120, 300], values: (_u, ticks) => ticks.map((t) => new Date(t * 1000).toLocaleTimeString()) },
          { values: (_u, ticks) => ticks.map((t) => `${formatBytes(t)}/s`), size: 96 },
        ],
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1024, max)] } },
      },
      data,
      this.box,
    );
  }

  /** Called when the tab is shown (the chart needs a width to draw). */
  shown(): void {
    this.draw();
  }
}
