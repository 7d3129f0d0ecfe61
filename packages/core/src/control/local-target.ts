import type { SluiceConfig } from '../config/types';
import type { ByteTotals, ControlAgent, MetricsJson } from './agent';
import type { ConnectionsSnapshot, RouteMode } from './clash-types';
import type { ClashRuleProvider } from './rule-providers';
import { labelProcessMetrics, type ProcessMetrics } from './process-metrics';
import type { RouteModeSwitch } from './mode-router';
import type { ControlTarget } from './target';

/** What {@link LocalTarget} drives: the `LocalControl` of a Sluice. */
export interface LocalControlPort {
  readonly agent: ControlAgent;
  readonly process: ProcessMetrics;
  readonly modes: RouteModeSwitch;
  readonly config: SluiceConfig;
  reload(payload?: string): Promise<void>;
  setLogLevel(level: string): void;
  readonly logLevel: string;
  setMode(mode: RouteMode, globalOutbound: string): void;
  ruleProviders(): ClashRuleProvider[];
}

/** {@link ControlTarget} of a single Sluice (no worker pool). */
export class LocalTarget implements ControlTarget {
  constructor(private readonly control: LocalControlPort) {}

  config(): SluiceConfig {
    return this.control.config;
  }

  async connections(): Promise<ConnectionsSnapshot> {
    return this.control.agent.snapshot();
  }

  async totals(): Promise<ByteTotals> {
    return this.control.agent.totals();
  }

  async closeConnection(id: string): Promise<boolean> {
    return this.control.agent.close(id);
  }

  async closeAllConnections(): Promise<void> {
    this.control.agent.closeAll();
  }

  async ruleProviders(): Promise<ClashRuleProvider[]> {
    return this.control.ruleProviders();
  }

  async ruleHits(): Promise<Record<string, number>> {
    return this.control.agent.ruleHits();
  }

  async metrics(): Promise<MetricsJson[]> {
    return [await this.control.agent.metricsJson()];
  }

  async processMetrics(): Promise<MetricsJson[]> {
    return [labelProcessMetrics(await this.control.process.json())];
  }

  async memory(): Promise<number> {
    return process.memoryUsage().rss;
  }

  reload(payload?: string): Promise<void> {
    return this.control.reload(payload);
  }

  get logLevel(): string {
    return this.control.logLevel;
  }

  async setLogLevel(level: string): Promise<void> {
    this.control.setLogLevel(level);
  }

  get mode(): RouteMode {
    return this.control.modes.mode;
  }

  async setMode(mode: RouteMode, globalOutbound: string): Promise<void> {
    this.control.setMode(mode, globalOutbound);
  }
}
