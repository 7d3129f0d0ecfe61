import type { Logger } from 'pino';
import type { FlowRouter } from '../adapter/router';
import type { FlowClosedEvent, FlowRoutedEvent } from '../adapter/flow';
import type { SluiceConfig } from '../config/types';
import { parseConfig } from '../config/load';
import type { LiveFlow } from '../flow/live-flow';
import { ControlAgent } from './agent';
import type { RouteMode } from './clash-types';
import type { DnsCounters } from '../dns/resolver';
import type { RuleSetLookup } from '../router';
import { GroupControlView } from './group-control-view';
import type { GroupControlPort } from './groups-view';
import { describeRuleProviders, type ClashRuleProvider } from './rule-providers';
import { LogTap } from './log-tap';
import { ModeRouter, RouteModeSwitch } from './mode-router';
import { ControlServer } from './server';
import { LocalTarget } from './local-target';
import { ProcessMetrics } from './process-metrics';

/** What {@link LocalControl} needs of the Sluice it serves. */
export interface ControlHost {
  readonly config: SluiceConfig;
  readonly logger: Logger;
  liveFlows(): Iterable<LiveFlow>;
  /** The groups of the current route table (the Sluice itself). */
  readonly groups: GroupControlPort;
  /** The rule sets of the current route table, when it has any. */
  ruleSets(): RuleSetLookup | undefined;
  /** The DNS resolver's counters; undefined without `dns`. */
  dnsCounters(): DnsCounters | undefined;
  /** Applies a config (or re-reads the file) as SIGHUP does. */
  reload(config?: SluiceConfig): Promise<unknown>;
}

/** Operations a worker pool sends to each worker's {@link LocalControl.handle}. */
export type ControlOp =
  | 'connections'
  | 'totals'
  | 'close'
  | 'closeAll'
  | 'metrics'
  | 'processMetrics'
  | 'memory'
  | 'setMode'
  | 'setLogLevel'
  | 'reload'
  | 'ruleProviders'
  | 'ruleHits';

/**
 * The control API's part inside one Sluice: its {@link ControlAgent} (flow
 * statistics, live connections), the Clash `mode` switch its route tables
 * obey, and, for a Sluice that serves the API itself (not a pool's worker),
 * the server.
 */
export class LocalControl {
  readonly agent: ControlAgent;
  readonly modes = new RouteModeSwitch();
  /** This process's own metrics (a pool's worker reports them labelled with its index). */
  readonly process = new ProcessMetrics();
  private server: ControlServer | undefined;
  private tap: LogTap | undefined;

  constructor(private readonly host: ControlHost) {
    this.agent = new ControlAgent({
      liveFlows: () => host.liveFlows(),
      get route() {
        return host.config.route;
      },
      get inbounds() {
        return host.config.inbounds;
      },
      dnsCounters: () => host.dnsCounters(),
    });
  }

  /** Wraps the router of a new route table so it obeys the mode; learns the `direct` outbound. */
  wrapRouter(router: FlowRouter, config: SluiceConfig): FlowRouter {
    this.modes.directOutbound = config.outbounds.find((o) => o.type === 'direct')?.tag ?? '';
    if (this.modes.globalOutbound === '' || !config.outbounds.some((o) => o.tag === this.modes.globalOutbound)) this.modes.globalOutbound = config.route.final;
    return new ModeRouter(router, this.modes);
  }

  routed(e: FlowRoutedEvent): void {
    this.agent.routed(e);
  }

  closed(e: FlowClosedEvent): void {
    this.agent.closed(e);
  }

  /** Starts the server on `control.listen` (a single Sluice; a pool serves from its own process). */
  async serve(): Promise<void> {
    const config = this.host.config.control;
    if (!config) return;
    this.tap = new LogTap(this.host.logger);
    const target = new LocalTarget(this);
    const groups = new GroupControlView(() => this.host.config.outbounds, this.host.groups);
    this.server = new ControlServer({ config, target, groups, logs: this.tap, logger: this.host.logger.child({ component: 'control' }) });
    await this.server.listen();
  }

  /** `route.rule_sets` with the counts of the contents the router uses now. */
  ruleProviders(): ClashRuleProvider[] {
    return describeRuleProviders(this.host.config.route.rule_sets, this.host.ruleSets());
  }

  get config(): SluiceConfig {
    return this.host.config;
  }

  /** Applies YAML/JSON `payload`, or re-reads the config file. */
  async reload(payload?: string): Promise<void> {
    const config = this.host.config;
    await this.host.reload(payload === undefined ? undefined : parseConfig(payload, { baseDir: config.baseDir, format: 'yaml' }));
  }

  get logLevel(): string {
    return this.host.logger.level;
  }

  setLogLevel(level: string): void {
    this.host.logger.level = level;
  }

  setMode(mode: RouteMode, globalOutbound: string): void {
    this.modes.set(mode, globalOutbound);
  }

  /** One operation from the pool (see {@link ControlOp}); the result crosses a message channel, so it is plain data. */
  async handle(op: ControlOp, arg: Record<string, unknown>): Promise<unknown> {
    switch (op) {
      case 'connections':
        return this.agent.snapshot();
      case 'totals':
        return this.agent.totals();
      case 'close':
        return this.agent.close(String(arg.id));
      case 'closeAll':
        return this.agent.closeAll();
      case 'metrics':
        return this.agent.metricsJson();
      case 'processMetrics':
        return this.process.json();
      case 'memory':
        return process.memoryUsage().rss;
      case 'setMode':
        return this.setMode(arg.mode as RouteMode, String(arg.global ?? ''));
      case 'setLogLevel':
        return this.setLogLevel(String(arg.level));
      case 'reload':
        return this.reload(typeof arg.payload === 'string' ? arg.payload : undefined);
      case 'ruleProviders':
        return this.ruleProviders();
      case 'ruleHits':
        return this.agent.ruleHits();
    }
  }

  async close(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
    this.tap?.close();
    this.tap = undefined;
  }
}
