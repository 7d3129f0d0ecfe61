import { Registry, collectDefaultMetrics } from 'prom-client';
import type { MetricsJson } from './agent';

/**
 * The process metrics of one process (prom-client's default metrics: CPU,
 * resident memory, heap, open fds, event-loop lag, GC), read when asked.
 * Built on first use: the collectors watch GC and the event loop from then on.
 */
export class ProcessMetrics {
  private registry: Registry | undefined;

  /** The current values, as `getMetricsAsJSON()` gives them. */
  async json(): Promise<MetricsJson> {
    if (!this.registry) {
      this.registry = new Registry();
      collectDefaultMetrics({ register: this.registry });
    }
    return (await this.registry.getMetricsAsJSON()) as MetricsJson;
  }
}

/**
 * `metrics` with `worker="<worker>"` added to every value (none without
 * `worker`), so the process metrics of several processes stand side by side
 * in one exposition rather than being summed. Each labelled series then has one source, so every
 * metric takes the `first` aggregator: prom-client's own (`omit` for the
 * start time, `average` for event-loop lag) are for merging processes into
 * one series, which this does not do.
 */
export function labelProcessMetrics(metrics: MetricsJson, worker?: string): MetricsJson {
  return metrics.map((m) => ({
    ...m,
    aggregator: 'first',
    values: worker === undefined ? m.values : m.values.map((v) => ({ ...v, labels: { ...v.labels, worker } })),
  })) as MetricsJson;
}
