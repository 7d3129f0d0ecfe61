import { EventEmitter } from 'node:events';
import { native as loadNative, type NativeBinding } from '@sluice/native';
import type { Logger } from 'pino';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import type { FlowClosedEvent, FlowRoutedEvent } from '../adapter/flow';
import type { Inbound } from '../adapter/inbound';
import type { Outbound } from '../adapter/outbound';
import type { SluicePlugin } from '../adapter/plugin';
import type { FlowRouter, RoutingHook } from '../adapter/router';
import { inspectConfig, logWarnings, validateConfigFile } from '../config';
import type { SluiceConfig } from '../config/types';
import type { ControlOp, LocalControl } from '../control/local-control';
import { ErrorCode, SluiceError } from '../errors';
import type { FlowListener } from '../flow/access-log';
import { Dispatcher, RouteTable } from '../flow/dispatch';
import { DnsService } from '../dns/dns-service';
import type { DnsCounters } from '../dns/resolver';
import { Flows } from '../flow/flow-sink';
import { LoopGuard } from '../flow/loop-guard';
import { TcpFlows } from '../flow/tcp-flows';
import { sniffingInbounds } from '../flow/tcp-sniff';
import { UdpSessions } from '../flow/udp-sessions';
import { createInbound } from '../inbound/create';
import { createRootLogger } from '../logger';
import { createOutbounds, definitionsByType } from '../outbound/registry';
import { HIJACK_DNS, HijackDnsOutbound } from '../outbound/hijack-dns';
import { registerPlugins } from '../outbound/plugins';
import { registerCoreServices } from '../services';
import { TcpRelayer } from '../relay/relay';
import { spliceAvailable } from '../relay/splice-relay';
import { Router, RuleSetStore } from '../router';
import { readFileLimit, resolveLimits, type FileLimit, type WorkerShare } from './limits';
import { describeReload, type ReloadSummary } from './reload-summary';
import { carryGroupHealth, groupNamed, groupsOf, Selections, testDelayThrough, type GroupControl } from './group-control';
import type { DelayResult, DelayTestOptions, GroupState } from '../outbound/groups';

/** Everything {@link Sluice} can be given besides its config; all optional. */
export interface SluiceOptions {
  /** Root logger; default: pino JSON on stdout at `config.log.level`. */
  readonly logger?: Logger;
  /** The native binding; tests pass a mock (see `@sluice/core/testing`). */
  readonly native?: NativeBinding;
  /** Container to register plugins in; default: a child of tsyringe's root. */
  readonly container?: DependencyContainer;
  /**
   * Asked before the rules for every flow. Resolving to a tag routes there;
   * `undefined` lets the rules decide, and so do a hook that throws and one
   * slower than {@link hookTimeoutMs} (both logged, rate-limited).
   */
  readonly routingHook?: RoutingHook;
  /** Default: `route.hook_timeout_ms` of the config (1000). */
  readonly hookTimeoutMs?: number;
  /** Plugin objects (from `definePlugin`) to use besides the config's `plugins`: outbound types an embedder defines in code. */
  readonly plugins?: readonly SluicePlugin[];
  /** Replaces the rule router entirely (kept across reloads). */
  readonly router?: FlowRouter;
  /**
   * Log `sluice started` / `sluice stopped` (default true). A worker of a
   * multi-loop pool turns this off: the pool announces once, for all workers.
   */
  readonly announce?: boolean;
  /**
   * How many workers share `limits.max_tcp_flows` and `udp.max_sessions`
   * (each enforces its share) and how many run in this process (sharing its
   * open-file limit). Set by the worker pool; default one worker.
   */
  readonly workerShare?: WorkerShare;
}

/** The events of a {@link Sluice}, with their payloads. */
export interface SluiceEvents {
  /** A flow was routed: id, network, src, dst, host, inbound, rule, outbound. */
  flow: [event: FlowRoutedEvent];
  /** A flow ended: the access-log line's fields. */
  'flow:closed': [event: FlowClosedEvent];
  /** A reload took effect. */
  reloaded: [summary: ReloadSummary];
}

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * One running proxy: plugins, outbounds, router and inbounds built from a
 * validated config. Start order is outbounds → router → inbounds; stop is
 * the reverse, with a bounded drain of open flows in between.
 */
export class Sluice extends EventEmitter implements FlowListener, GroupControl {
  readonly logger: Logger;
  private selections: Selections | undefined;
  private readonly container: DependencyContainer;
  private readonly configPath: string | undefined;
  private loaded: SluiceConfig | undefined;
  private dispatcher?: Dispatcher;
  private dnsService?: DnsService;
  /** Route tables replaced by a reload whose flows have not all ended yet. */
  private readonly retiring = new Set<RouteTable>();
  /** Each route table's watched rule sets, closed when the table stops taking new flows. */
  private readonly ruleSets = new WeakMap<RouteTable, RuleSetStore>();
  private inbounds: Inbound[] = [];
  private flows?: Flows;
  private state: State = 'new';
  private stopRequested = false;
  private starting?: Promise<void>;
  private stopping?: Promise<void>;
  /** The control API's part in this Sluice, when the config has `control`. */
  private control?: LocalControl;

  constructor(
    config: SluiceConfig | string,
    private readonly options: SluiceOptions = {},
  ) {
    super();
    if (typeof config === 'string') this.configPath = config;
    else this.loaded = config;
    this.logger = options.logger ?? createRootLogger({ level: this.loaded?.log.level ?? 'info' });
    this.container = options.container ?? rootContainer.createChildContainer();
  }

  /** The running config (for a path, once {@link start} has loaded it). */
  get config(): SluiceConfig {
    if (!this.loaded) throw new SluiceError(ErrorCode.CONFIG, `the config ${this.configPath ?? ''} is loaded by start()`);
    return this.loaded;
  }

  /**
   * The DNS resolver's counters (queries, cache hits, upstream errors,
   * mapping size), or undefined when the config has no `dns` section.
   */
  get dnsCounters(): DnsCounters | undefined {
    return this.dnsService?.counters;
  }

  /** Open TCP flows and UDP sessions. */
  get activeFlows(): { tcp: number; udp: number } {
    return this.flows?.active ?? { tcp: 0, udp: 0 };
  }

  /** @internal {@link FlowListener}: build `flow` events only while someone listens. */
  get wantsRouted(): boolean {
    return this.control !== undefined || this.listenerCount('flow') > 0;
  }

  /** @internal */
  get wantsClosed(): boolean {
    return this.control !== undefined || this.listenerCount('flow:closed') > 0;
  }

  /** @internal */
  routed(event: FlowRoutedEvent): void {
    this.control?.routed(event);
    this.emit('flow', event);
  }

  /** @internal */
  closed(event: FlowClosedEvent): void {
    this.control?.closed(event);
    this.emit('flow:closed', event);
  }

  /**
   * @internal A control API operation from a worker pool's serving process
   * (connections, metrics, close, mode…); rejects when the config has no `control`.
   */
  controlRequest(op: ControlOp, arg: Record<string, unknown>): Promise<unknown> {
    if (!this.control) return Promise.reject(new Error('control: not configured'));
    return this.control.handle(op, arg);
  }

  override on<K extends keyof SluiceEvents>(event: K, listener: (...args: SluiceEvents[K]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  override once<K extends keyof SluiceEvents>(event: K, listener: (...args: SluiceEvents[K]) => void): this {
    return super.once(event, listener as (...args: unknown[]) => void);
  }

  override off<K extends keyof SluiceEvents>(event: K, listener: (...args: SluiceEvents[K]) => void): this {
    return super.off(event, listener as (...args: unknown[]) => void);
  }

  /**
   * Loads the config (when given a path), plugins, creates and starts
   * outbounds, opens inbounds. On failure, or when {@link stop} is called
   * meanwhile, everything opened so far is closed again and the promise
   * rejects.
   */
  start(): Promise<void> {
    if (this.state !== 'new') return Promise.reject(new Error(`cannot start a Sluice that is ${this.state}`));
    this.state = 'starting';
    this.starting = this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    try {
      const config = (this.loaded ??= await validateConfigFile(this.configPath!));
      if (!this.options.logger) this.logger.level = config.log.level;
      this.checkStop();
      if (config.control) this.control = await this.makeControl();
      registerPlugins(this.container, config.plugins, config.baseDir, this.options.plugins);
      // The router service follows reloads: it asks whichever route table is current.
      registerCoreServices(this.container, { logger: this.logger, router: { route: (flow) => this.dispatcher!.current.router.route(flow) } });
      const flowLogger = this.logger.child({ component: 'flow' });
      const table = await this.buildRouteTable(config);
      const dns = config.dns
        ? new DnsService(config.dns, { logger: this.logger.child({ component: 'dns' }), outbound: (tag) => (this.dispatcher?.current ?? table).outbounds.get(tag),
            baseDir: config.baseDir,
            // `rule_set` tags in dns.rules and fake_ip_filter read the route's rule sets, as reloaded now.
            ruleSets: (tag) => ({ matches: (name) => this.ruleSets.get(this.dispatcher?.current ?? table)?.get(tag)?.current.matchesHost(name) ?? false }),
          })
        : undefined;
      this.dispatcher = new Dispatcher(table, {
        hook: this.options.routingHook,
        hookTimeoutMs: this.options.hookTimeoutMs ?? config.route.hook_timeout_ms,
        logger: flowLogger,
        hosts: dns?.hosts,
      });
      // After the outbounds (a `via` dials through them), before the inbounds (flows need the names).
      if (dns) {
        this.dnsService = dns;
        await dns.start();
      }
      const native = this.options.native ?? loadNative();
      const files = this.raiseFileLimit(native);
      const limits = resolveLimits(config, files, this.options.workerShare ?? { workers: 1, perProcess: 1 });
      this.logger.info(
        { maxTcpFlows: limits.maxTcpFlowsTotal, maxTcpFlowsThisWorker: limits.maxTcpFlows, derived: limits.derived, maxUdpSessionsThisWorker: limits.maxUdpSessions, fdBudget: limits.fdBudget },
        'limits',
      );
      for (const w of limits.warnings) this.logger.warn(w);
      const loopGuard = new LoopGuard(config.inbounds.map((i) => ({ address: i.listen, port: i.port })));
      const t = config.timeouts;
      const relayer = new TcpRelayer({ idleMs: t.tcp_idle_ms }, config.relay.splice && spliceAvailable(native) ? native : undefined);
      const tcp = new TcpFlows(this.dispatcher, loopGuard, relayer, flowLogger, { connectTimeoutMs: t.connect_ms, maxFlows: limits.maxTcpFlows, maxFlowsTotal: limits.maxTcpFlowsTotal, sniff: sniffingInbounds(config.inbounds) }, this);
      const udp = new UdpSessions(
        this.dispatcher,
        loopGuard,
        flowLogger,
        {
          connectTimeoutMs: t.connect_ms,
          idleMs: t.udp_idle_ms,
          maxSessions: limits.maxUdpSessions,
          sessionRelay: config.relay.native_udp,
          sniff: new Map(config.inbounds.filter((i) => i.sniff).map((i) => [i.tag, { timeoutMs: i.sniff_timeout_ms, overrideDestination: i.override_destination }])),
        },
        this,
      );
      this.flows = new Flows(tcp, udp);
      for (const ic of config.inbounds) {
        this.checkStop();
        const inbound = createInbound(ic, native, this.flows, this.logger);
        await inbound.start();
        this.inbounds.push(inbound);
      }
      this.checkStop();
      // A pool's workers do not serve: the pool serves for all of them.
      if (this.options.announce !== false) await this.control?.serve();
    } catch (err) {
      await this.teardown(0);
      this.state = 'stopped';
      throw err;
    }
    this.state = 'running';
    const config = this.config;
    this.logger.info(
      { inbounds: config.inbounds.map((i) => `${i.tag}@${i.listen}:${i.port}`), outbounds: [...config.outbounds.map((o) => o.tag)] },
      this.options.announce === false ? 'worker started' : 'sluice started',
    );
  }

  /** Throws when {@link stop} was called during start. */
  private checkStop(): void {
    if (this.stopRequested) throw new SluiceError(ErrorCode.SHUTDOWN, 'stopped while starting');
  }

  /** Creates and starts the outbounds of `config` and compiles its rules; closes what it made on failure. */
  private async buildRouteTable(config: SluiceConfig): Promise<RouteTable> {
    // The same checks as `sluice check`; a pool's workers leave the warnings to the pool.
    const { plan, warnings } = inspectConfig(config, definitionsByType(this.container));
    if (this.options.announce !== false) logWarnings(this.logger, warnings);
    const outbounds = createOutbounds(plan, this.container, this.logger);
    // Asked at each dial: the resolver starts after this table (its `via` upstreams dial through it).
    if (config.dns) outbounds.set(HIJACK_DNS, new HijackDnsOutbound(() => this.dnsService?.resolver));
    let ruleSets: RuleSetStore | undefined;
    try {
      for (const o of outbounds.values()) {
        this.checkStop();
        await o.start?.();
      }
      // Rule-set files were checked by validation; loaded again here (from a cache when unchanged) and watched.
      ruleSets = this.options.router ? undefined : RuleSetStore.load(config.route.rule_sets, { watch: true, logger: this.logger.child({ component: 'router/rule-sets' }) });
      const rules = this.options.router ?? new Router(config.route, { ruleSets });
      const router = this.control ? this.control.wrapRouter(rules, config) : rules;
      const table = new RouteTable(router, outbounds);
      if (ruleSets) this.ruleSets.set(table, ruleSets);
      return table;
    } catch (err) {
      ruleSets?.close();
      // Every outbound made is closed, started or not (close() must cope with either).
      await this.closeOutbounds([...outbounds.values()]);
      throw err;
    }
  }

  /**
   * Raises the soft open-file limit to the hard one and logs both, before and
   * after (the native call reports only the result). Returns the limit the
   * caps are derived from.
   */
  private raiseFileLimit(native: NativeBinding): FileLimit {
    const before = readFileLimit();
    let after: FileLimit | undefined;
    try {
      after = native.raiseFileLimit();
    } catch (err) {
      this.logger.warn({ err }, 'cannot raise the open-file limit');
    }
    const now = after ?? readFileLimit() ?? { soft: 1024, hard: 1024 };
    this.logger.info({ before, soft: now.soft, hard: now.hard }, 'open-file limit');
    if (now.soft < 4096) this.logger.warn({ soft: now.soft }, 'the open-file limit is low: each proxied TCP flow needs two file descriptors');
    return now;
  }

  /**
   * Applies a new config to new flows: rules and outbounds. Established flows
   * continue on the outbounds they were dialled with, which close when their
   * last flow ends. A config that does not validate, or whose outbounds
   * cannot start, is rejected with its errors and the running one is kept.
   * Inbounds, timeouts, workers, relay and plugin settings need a restart;
   * changes to them are reported in the summary (and logged) but not applied.
   */
  async reload(config: SluiceConfig | string): Promise<ReloadSummary> {
    if (this.state !== 'running' || !this.dispatcher) throw new SluiceError(ErrorCode.SHUTDOWN, `cannot reload a Sluice that is ${this.state}`);
    const next = typeof config === 'string' ? await validateConfigFile(config) : config;
    const previous = this.config;
    const summary = describeReload(previous, next);
    if (summary.restartNeeded.includes('plugins')) {
      throw new SluiceError(ErrorCode.CONFIG, 'plugins: the plugin list cannot change on reload; restart Sluice to load plugins');
    }
    const table = await this.buildRouteTable(next);
    if (this.state !== 'running') {
      this.ruleSets.get(table)?.close();
      await this.closeOutbounds([...table.outbounds.values()]);
      throw new SluiceError(ErrorCode.SHUTDOWN, 'stopped while reloading');
    }
    this.selections?.applyTo(table.outbounds);
    carryGroupHealth(this.dispatcher.current.outbounds, table.outbounds);
    const old = this.dispatcher.replace(table);
    // The old rules take no new flows, so their rule-set files need no watching.
    this.ruleSets.get(old)?.close();
    this.retiring.add(old);
    old.retire(() => {
      this.retiring.delete(old);
      void this.closeOutbounds([...old.outbounds.values()]);
    });
    // What a restart would apply stays as it is; the rest is now the config.
    this.loaded = { ...next, inbounds: previous.inbounds, timeouts: previous.timeouts, relay: previous.relay, udp: previous.udp, limits: previous.limits, plugins: previous.plugins, control: previous.control, dns: previous.dns };
    if (!this.options.logger) this.logger.level = next.log.level;
    this.logger.info(summary, 'config reloaded');
    if (summary.restartNeeded.length > 0) this.logger.warn({ keys: summary.restartNeeded }, 'these config changes take effect at the next restart');
    this.emit('reloaded', summary);
    return summary;
  }

  /** The outbounds new flows are routed to; throws when not running. */
  private currentOutbounds(): ReadonlyMap<string, Outbound> {
    if (this.state !== 'running' || !this.dispatcher) throw new SluiceError(ErrorCode.SHUTDOWN, `this Sluice is ${this.state}`);
    return this.dispatcher.current.outbounds;
  }

  /**
   * Makes `member` the selection of selector `group` for new flows (flows
   * already open stay where they are). The selection is kept across reloads
   * while the group is a selector that still has that member. Rejects with a
   * `SLUICE_ERR_CONFIG` error for an unknown group or member, or a group that
   * is not a selector.
   */
  async select(group: string, member: string): Promise<void> {
    const outbounds = this.currentOutbounds();
    (this.selections ??= new Selections(this.logger)).select(outbounds, group, member);
  }

  /** A snapshot of every group: tag, type, members, `now`, and each member's health, last delay and its time. */
  async groups(): Promise<GroupState[]> {
    return groupsOf(this.currentOutbounds()).map((g) => g.state());
  }

  /**
   * Requests `opts.url` through outbound `tag` now (any outbound; a group
   * dials through its current choice) and resolves with the delay or why
   * there is none; never rejects for a failed test. The result goes into the
   * history of every group that has `tag` as a member.
   */
  testDelay(tag: string, opts: DelayTestOptions = {}): Promise<DelayResult> {
    return Promise.resolve().then(() => testDelayThrough(this.currentOutbounds(), tag, opts, this.logger));
  }

  /** Tests every member of `group` at once; results by member tag. */
  testGroupDelay(group: string, opts: DelayTestOptions = {}): Promise<Record<string, DelayResult>> {
    return Promise.resolve().then(() => groupNamed(this.currentOutbounds(), group).testAll(opts));
  }

  /**
   * Stops accepting, lets open flows finish for up to `drainMs` (default
   * `timeouts.drain_ms`), then cuts the rest and closes the outbounds. During
   * {@link start}, makes start fail and close everything it opened.
   */
  stop(drainMs?: number): Promise<void> {
    // A second call waits for the first.
    this.stopping ??= this.doStop(drainMs);
    return this.stopping;
  }

  private async doStop(drainMs?: number): Promise<void> {
    if (this.state === 'starting') {
      this.stopRequested = true;
      await this.starting?.catch(() => undefined);
      return;
    }
    if (this.state !== 'running') {
      this.state = this.state === 'new' ? 'stopped' : this.state;
      return;
    }
    this.state = 'stopping';
    const drain = drainMs ?? this.config.timeouts.drain_ms;
    this.logger.info({ active: this.activeFlows, drainMs: drain }, this.options.announce === false ? 'worker stopping' : 'sluice stopping');
    await this.teardown(drain);
    this.state = 'stopped';
    this.logger.info(this.options.announce === false ? 'worker stopped' : 'sluice stopped');
  }

  private async teardown(drainMs: number): Promise<void> {
    await this.control?.close();
    const flows = this.flows;
    if (flows) flows.udp.draining = true;
    await Promise.all(this.inbounds.map((i) => (i.stopAccepting ? i.stopAccepting() : i.close())));
    const deadline = Date.now() + drainMs;
    // Both TCP flows and UDP sessions get the drain period to finish by themselves.
    while (flows && (flows.tcp.size > 0 || flows.udp.countOpen() > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    flows?.tcp.abortAll('shutdown');
    flows?.udp.closeAll('shutdown');
    await Promise.all(this.inbounds.map((i) => i.close()));
    this.inbounds = [];
    await this.dnsService?.close();
    this.dnsService = undefined;
    // Aborted sockets close asynchronously; wait (briefly) so every cut flow still gets its access-log line.
    const cutDeadline = Date.now() + 1000;
    while ((flows?.tcp.size ?? 0) > 0 && Date.now() < cutDeadline) await new Promise((r) => setTimeout(r, 10));
    const tables = [...this.retiring];
    if (this.dispatcher) {
      tables.push(this.dispatcher.current);
      this.ruleSets.get(this.dispatcher.current)?.close();
    }
    this.retiring.clear();
    for (const table of tables) await this.closeOutbounds([...table.outbounds.values()]);
  }

  private async makeControl(): Promise<LocalControl> {
    // Loaded only when configured: fastify and prom-client cost every worker's start otherwise.
    const { LocalControl } = await import('../control/local-control');
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the getter below must read the config current at each call
    const self = this;
    return new LocalControl({
      logger: this.logger,
      get config() {
        return self.config;
      },
      liveFlows: () => this.flows?.liveFlows() ?? [],
      groups: this,
      ruleSets: () => (this.dispatcher ? this.ruleSets.get(this.dispatcher.current) : undefined),
      dnsCounters: () => this.dnsCounters,
      reload: (config) => this.reload(config ?? this.configPath ?? this.config),
    });
  }

  private async closeOutbounds(outbounds: readonly Outbound[]): Promise<void> {
    for (const o of outbounds) {
      try {
        await o.close();
      } catch (err) {
        this.logger.warn({ err, outbound: o.tag }, 'outbound close failed');
      }
    }
  }
}

/**
 * Builds a {@link Sluice} from a validated config, or from a config file's
 * path (loaded and validated by `start()`).
 */
export function createSluice(config: SluiceConfig | string, options?: SluiceOptions): Sluice {
  return new Sluice(config, options);
}
