import { AggregatorRegistry, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { GroupsView } from './groups-view';
import type { ControlTarget } from './target';

/**
 * `GET /metrics`: the flow metrics of every worker summed (prom-client's
 * aggregation), the outbounds' health and latency, and the process metrics
 * (CPU, memory, event-loop lag, open fds) of every process, side by side:
 * with a worker pool labelled `worker="0"`, `"1"`… and `"pool"`.
 */
export class MetricsExporter {
  private readonly own = new Registry();
  readonly contentType = this.own.contentType;

  constructor(
    private readonly target: ControlTarget,
    private readonly groups: GroupsView,
  ) {
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
