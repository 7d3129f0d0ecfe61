import { AggregatorRegistry, Counter, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { readOffloadCounters, type OffloadTotals } from '../firewall/offload-counters';
import type { GroupsView } from './groups-view';
import type { ControlTarget } from './target';

/** Where the kernel's `firewall.offload` counters come from (injectable for tests). */
export type OffloadCounterSource = () => Promise<OffloadTotals>;

/**
 * `GET /metrics`: the flow metrics of every worker summed (prom-client's
 * aggregation), the outbounds' health and latency, the kernel's counters of
 * offloaded flows (`firewall.offload`), and the process metrics (CPU,
 * memory, event-loop lag, open fds) of every process, side by side: with a
 * worker pool labelled `worker="0"`, `"1"`… and `"pool"`.
 */
export class MetricsExporter {
  private readonly own = new Registry();
  readonly contentType = this.own.contentType;

  constructor(
    private readonly target: ControlTarget,
    private readonly groups: GroupsView,
    offload: OffloadCounterSource = () => readOffloadCounters(),
  ) {
    this.offloadMetrics(offload);
    const list = (): ReturnType<GroupsView['list']> => this.groups.list();
    new Gauge({
      name: 'sluice_outbound_up',
      help: 'Whether an outbound is usable (1) or marked down by its health checks (0)',
      labelNames: ['outbound'],
      registers: [this.own],
      async collect() {
        const proxies = await list();
        this.reset();
        for (const p of proxies) this.set({ outbound: p.name }, p.alive ? 1 : 0);
      },
    });
    new Gauge({
      name: 'sluice_outbound_latency_seconds',
      help: 'Last measured latency of an outbound (delay test or health check)',
      labelNames: ['outbound'],
      registers: [this.own],
      async collect() {
        const proxies = await list();
        this.reset();
        for (const p of proxies) {
          const last = p.history[p.history.length - 1];
          if (last && last.delay > 0) this.set({ outbound: p.name }, last.delay / 1000);
        }
      },
    });
  }

  /**
   * `sluice_offload_packets_total{direction}` and `sluice_offload_bytes_total{direction}`:
   * the nftables counters of flows the kernel forwarded instead of Sluice, read
   * at each scrape while `firewall.offload` is on. A scrape when they cannot be
   * read (ruleset not applied) leaves them out rather than failing.
   */
  private offloadMetrics(source: OffloadCounterSource): void {
    const target = this.target;
    let last: { at: number; totals: Promise<OffloadTotals | undefined> } | undefined;
    // Both counters are collected in one scrape: one nft run serves the pair (and scrapes within a second).
    const read = (): Promise<OffloadTotals | undefined> => {
      const now = Date.now();
      if (!last || now - last.at >= 1000) {
        last = { at: now, totals: target.config().firewall.offload ? source().catch(() => undefined) : Promise.resolve(undefined) };
      }
      return last.totals;
    };
    const define = (name: string, help: string, field: 'packets' | 'bytes'): void => {
      new Counter({
        name,
        help,
        labelNames: ['direction'],
        registers: [this.own],
        async collect() {
          const totals = await read();
          this.reset();
          if (!totals) return;
          // The kernel keeps the totals; a counter is only ever told its whole value.
          this.inc({ direction: 'up' }, totals.up[field]);
          this.inc({ direction: 'down' }, totals.down[field]);
        },
      });
    };
    define('sluice_offload_packets_total', 'Packets of flows forwarded by the kernel under firewall.offload (up: client to remote, down: back)', 'packets');
    define('sluice_offload_bytes_total', 'Bytes of flows forwarded by the kernel under firewall.offload (up: client to remote, down: back)', 'bytes');
  }

  /** The text exposition format. */
  async render(): Promise<string> {
    const [workers, processes] = await Promise.all([this.target.metrics(), this.target.processMetrics()]);
    const own = (await this.own.getMetricsAsJSON()) as MetricObjectWithValues<MetricValue<string>>[];
    const summed = AggregatorRegistry.aggregate(workers) as Registry;
    // Each process's series carry their own `worker` label (or there is one process): nothing is summed here.
    const merged = Registry.merge([summed, AggregatorRegistry.aggregate(processes) as Registry, registryOf(own)]);
    return merged.metrics();
  }
}

/** A registry holding fixed values (already collected). */
function registryOf(metrics: MetricObjectWithValues<MetricValue<string>>[]): Registry {
  return AggregatorRegistry.aggregate([metrics]) as Registry;
}
