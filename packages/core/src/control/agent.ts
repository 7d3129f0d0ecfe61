import { Counter, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { FlowClosedEvent, FlowRoutedEvent } from '../adapter/flow';
import type { InboundConfig, RouteConfig } from '../config/types';
import type { LiveFlow } from '../flow/live-flow';
import type { ClashConnection, ConnectionsSnapshot } from './clash-types';
import type { DnsCounters } from '../dns/resolver';
import { errorCode } from './error-code';
import { RuleHits } from './rule-hits';
import { ruleFormsByName, type ClashRuleForm } from './rule-view';

/** What an agent reads from the Sluice it runs in. */
export interface AgentHost {
  /** Every flow in progress. */
  liveFlows(): Iterable<LiveFlow>;
  /** The routes of the running config (for rule types). */
  readonly route: RouteConfig;
  readonly inbounds: readonly InboundConfig[];
  /** The DNS resolver's counters; undefined when the config has no `dns`. */
  dnsCounters?(): DnsCounters | undefined;
}

/** Bytes moved by every flow, finished or not. */
export interface ByteTotals {
  readonly up: number;
  readonly down: number;
}

/** Metric values of one agent, to be summed with the others' (`prom-client`'s `getMetricsAsJSON()`). */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/**
 * The control API's view of one Sluice (one worker): live connections in
 * Clash's shape, byte totals, and the flow metrics. It hears of flows
 * through the Sluice's flow observer, and reads live byte counts from the
 * relays when asked, so nothing is counted per packet. Label values are
 * config tags and rule names only, never addresses, so the number of series
 * is bounded by the config.
 */
export class ControlAgent {
  readonly registry = new Registry();
  private readonly flowsTotal: Counter<'network' | 'inbound' | 'outbound' | 'rule'>;
  private readonly bytesTotal: Counter<'direction' | 'outbound'>;
  private readonly errorsTotal: Counter<'code'>;
  private readonly active: Gauge<'network'>;
  private readonly udpSessions: Gauge;
  /** Routed flows still open, with their group chain when a group chose the outbound. */
  private readonly routedFlows = new Map<string, string | undefined>();
  private closedUp = 0;
  private closedDown = 0;
  /** Bytes of finished flows by outbound, and what the byte counter has been told so far. */
  private readonly closedByOutbound = new Map<string, { up: number; down: number }>();
  private readonly reported = new Map<string, { up: number; down: number }>();
  private ruleForms: ReadonlyMap<string, ClashRuleForm>;
  private route: RouteConfig;
  /** Flows matched by each rule (`hits` of `GET /rules`). */
  private readonly hits = new RuleHits();

  constructor(private readonly host: AgentHost) {
    this.route = host.route;
    this.ruleForms = ruleFormsByName(host.route);
    const registers = [this.registry];
    this.flowsTotal = new Counter({ name: 'sluice_flows_total', help: 'Flows accepted, by network, inbound, outbound and rule', labelNames: ['network', 'inbound', 'outbound', 'rule'], registers });
    this.bytesTotal = new Counter({ name: 'sluice_bytes_total', help: 'Bytes relayed (up: client to remote, down: back), counted while flows run', labelNames: ['direction', 'outbound'], registers });
    this.errorsTotal = new Counter({ name: 'sluice_flow_errors_total', help: 'Flows that ended with an error, by errno name or kind', labelNames: ['code'], registers });
    this.active = new Gauge({ name: 'sluice_flows_active', help: 'Flows in progress (TCP flows and UDP sessions)', labelNames: ['network'], registers });
    this.udpSessions = new Gauge({ name: 'sluice_udp_sessions', help: 'UDP sessions in progress', registers });
    new Counter({
      name: 'sluice_dns_queries_total',
      help: 'DNS queries, by result: answered (not from the cache), cache_hit, upstream_error (answered SERVFAIL), malformed (answered FORMERR); none without `dns`',
      labelNames: ['result'],
      registers,
      collect() {
        const c = host.dnsCounters?.();
        this.reset();
        if (!c) return;
        // The resolver counts totals; a counter is only ever told its whole value.
        this.inc({ result: 'answered' }, Math.max(0, c.queries - c.cacheHits - c.upstreamErrors - c.malformed));
        this.inc({ result: 'cache_hit' }, c.cacheHits);
        this.inc({ result: 'upstream_error' }, c.upstreamErrors);
        this.inc({ result: 'malformed' }, c.malformed);
      },
    });
  }

  /** Rule name → Clash form, following reloads. */
  private forms(): ReadonlyMap<string, ClashRuleForm> {
    if (this.host.route !== this.route) {
      this.route = this.host.route;
      this.ruleForms = ruleFormsByName(this.route);
    }
    return this.ruleForms;
  }

  /** A flow was routed (the Sluice's flow observer). */
  routed(e: FlowRoutedEvent): void {
    this.routedFlows.set(e.id, e.chain);
    this.hits.record(e.rule);
    this.flowsTotal.inc({ network: e.network, inbound: e.inbound, outbound: e.outbound, rule: e.rule });
  }

  /** A flow ended (the Sluice's flow observer). */
  closed(e: FlowClosedEvent): void {
    // A flow refused before routing (limit, loop) counts once, here.
    if (!this.routedFlows.delete(e.flowId)) this.flowsTotal.inc({ network: e.network, inbound: e.inbound, outbound: e.outbound, rule: e.rule });
    this.closedUp += e.up;
    this.closedDown += e.down;
    if (e.outbound !== '') {
      const b = this.closedByOutbound.get(e.outbound) ?? { up: 0, down: 0 };
      b.up += e.up;
      b.down += e.down;
      this.closedByOutbound.set(e.outbound, b);
    }
    if (e.error !== undefined) this.errorsTotal.inc({ code: errorCode(e.error) });
  }

  /** Flows matched so far by each rule, by rule name. */
  ruleHits(): Record<string, number> {
    return this.hits.toJSON();
  }

  /** Bytes of every flow so far, finished ones and the live ones' running counts. */
  totals(): ByteTotals {
    let up = this.closedUp;
    let down = this.closedDown;
    for (const f of this.host.liveFlows()) {
      const b = f.bytes();
      up += b.up;
      down += b.down;
    }
    return { up, down };
  }

  /** `GET /connections` without `memory`. */
  snapshot(): ConnectionsSnapshot {
    let up = this.closedUp;
    let down = this.closedDown;
    const connections: ClashConnection[] = [];
    const forms = this.forms();
    for (const f of this.host.liveFlows()) {
      const c = this.toClash(f, forms);
      up += c.upload;
      down += c.download;
      // Flows still being routed have no outbound yet; dashboards expect one.
      if (f.outbound !== '') connections.push(c);
    }
    return { uploadTotal: up, downloadTotal: down, connections };
  }

  private toClash(f: LiveFlow, forms: ReadonlyMap<string, ClashRuleForm>): ClashConnection {
    const { flow } = f;
    const b = f.bytes();
    const chain = this.routedFlows.get(flow.id);
    const form = forms.get(f.rule) ?? { type: f.rule, payload: '' };
    const inbound = this.host.inbounds.find((i) => i.tag === flow.inbound);
    const host = flow.dst.host ?? '';
    return {
      id: flow.id,
      metadata: {
        network: flow.network,
        type: 'TProxy',
        sourceIP: flow.src.address,
        destinationIP: flow.dst.address,
        sourcePort: String(flow.src.port),
        destinationPort: String(flow.dst.port),
        inboundIP: inbound?.listen ?? '',
        inboundPort: inbound ? String(inbound.port) : '',
        inboundName: flow.inbound,
        inboundUser: '',
        host,
        dnsMode: 'normal',
        uid: 0,
        process: '',
        processPath: '',
        specialProxy: '',
        specialRules: '',
        remoteDestination: flow.dst.address,
        dscp: 0,
        sniffHost: flow.sniffed ? host : '',
      },
      upload: b.up,
      download: b.down,
      start: new Date(f.startedAt).toISOString(),
      // The access log's chain runs group → member; Clash lists the final outbound first.
      chains: chain ? chain.split(' > ').reverse() : [f.outbound],
      rule: form.type,
      rulePayload: form.payload,
    };
  }

  /** Ends the flow `id` (a TCP reset, a UDP session ended); false when this worker has no such flow. */
  close(id: string): boolean {
    for (const f of this.host.liveFlows()) {
      if (f.flow.id === id) {
        f.close('closed through the control API');
        return true;
      }
    }
    return false;
  }

  /** Ends every flow; returns how many. */
  closeAll(): number {
    const all = [...this.host.liveFlows()];
    for (const f of all) f.close('closed through the control API');
    return all.length;
  }

  /** This agent's metrics, the gauges and live byte counts brought up to date first. */
  async metricsJson(): Promise<MetricsJson> {
    this.refresh();
    return this.registry.getMetricsAsJSON();
  }

  private refresh(): void {
    let tcp = 0;
    let udp = 0;
    const bytes = new Map<string, { up: number; down: number }>();
    for (const [tag, b] of this.closedByOutbound) bytes.set(tag, { up: b.up, down: b.down });
    for (const f of this.host.liveFlows()) {
      if (f.flow.network === 'tcp') tcp++;
      else udp++;
      if (f.outbound === '') continue;
      const b = f.bytes();
      const sum = bytes.get(f.outbound) ?? { up: 0, down: 0 };
      sum.up += b.up;
      sum.down += b.down;
      bytes.set(f.outbound, sum);
    }
    this.active.set({ network: 'tcp' }, tcp);
    this.active.set({ network: 'udp' }, udp);
    this.udpSessions.set(udp);
    // A counter only goes up: add what each outbound moved since the last scrape.
    for (const [outbound, now] of bytes) {
      const last = this.reported.get(outbound) ?? { up: 0, down: 0 };
      const up = Math.max(0, now.up - last.up);
      const down = Math.max(0, now.down - last.down);
      if (up > 0 || !this.reported.has(outbound)) this.bytesTotal.inc({ direction: 'up', outbound }, up);
      if (down > 0 || !this.reported.has(outbound)) this.bytesTotal.inc({ direction: 'down', outbound }, down);
      this.reported.set(outbound, { up: Math.max(now.up, last.up), down: Math.max(now.down, last.down) });
    }
  }
}
