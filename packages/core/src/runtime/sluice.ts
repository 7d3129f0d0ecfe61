import { native as loadNative, type NativeBinding } from '@sluice/native';
import type { Logger } from 'pino';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import type { Outbound } from '../adapter/outbound';
import type { FlowRouter, RoutingHook } from '../adapter/router';
import type { SluiceConfig } from '../config/types';
import { TproxyInbound } from '../inbound/tproxy';
import { createRootLogger } from '../logger';
import { createOutbounds, definitionsByType, planOutbounds } from '../outbound/registry';
import { registerPlugins } from '../outbound/plugins';
import { spliceAvailable } from '../relay/splice-relay';
import { Router } from '../router';
import { Dispatcher } from '../flow/dispatch';
import { LoopGuard } from '../flow/loop-guard';
import { TcpFlowHandler } from '../flow/tcp-flows';
import { UdpFlowHandler } from '../flow/udp-sessions';

/** Everything {@link Sluice} can be given besides its config; all optional. */
export interface SluiceOptions {
  /** Root logger; default: pino JSON on stdout at `config.log.level`. */
  readonly logger?: Logger;
  /** The native binding; tests pass a mock. */
  readonly native?: NativeBinding;
  /** Container to register plugins in; default: a child of tsyringe's root. */
  readonly container?: DependencyContainer;
  /** Asked before the rules for every flow (embedders). */
  readonly routingHook?: RoutingHook;
  /** Replaces the rule router entirely. */
  readonly router?: FlowRouter;
  /**
   * Log `sluice started` / `sluice stopped` (default true). A worker of a
   * multi-loop pool turns this off: the pool announces once, for all workers.
   */
  readonly announce?: boolean;
}

/**
 * One running proxy: plugins, outbounds, router and inbounds built from a
 * validated config. Start order is outbounds → handlers → inbounds; stop is
 * the reverse, with a bounded drain of open flows in between.
 */
export class Sluice {
  readonly logger: Logger;
  private readonly container: DependencyContainer;
  private outbounds = new Map<string, Outbound>();
  private inbounds: TproxyInbound[] = [];
  private tcp?: TcpFlowHandler;
  private udp?: UdpFlowHandler;
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';

  constructor(
    readonly config: SluiceConfig,
    private readonly options: SluiceOptions = {},
  ) {
    this.logger = options.logger ?? createRootLogger({ level: config.log.level });
    this.container = options.container ?? rootContainer.createChildContainer();
  }

  /** Open TCP flows and UDP sessions. */
  get activeFlows(): { tcp: number; udp: number } {
    return { tcp: this.tcp?.size ?? 0, udp: this.udp?.size ?? 0 };
  }

  /**
   * Loads plugins, creates and starts outbounds, opens inbounds. On failure
   * everything opened so far is closed again and the error is rethrown.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`cannot start a Sluice that is ${this.state}`);
    this.state = 'starting';
    const { config } = this;
    try {
      registerPlugins(this.container, config.plugins, config.baseDir);
      const plan = planOutbounds(config.outbounds, definitionsByType(this.container));
      this.outbounds = createOutbounds(plan, this.container, this.logger);
      for (const o of this.outbounds.values()) await o.start?.();

      const native = this.options.native ?? loadNative();
      this.raiseFileLimit(native);
      const router = this.options.router ?? new Router(config.route);
      const dispatcher = new Dispatcher(router, this.outbounds, this.options.routingHook);
      const loopGuard = new LoopGuard(config.inbounds.map((i) => ({ address: i.listen, port: i.port })));
      const flowLogger = this.logger.child({ component: 'flow' });
      const t = config.timeouts;
      const splice = config.relay.splice && spliceAvailable(native) ? native : undefined;
      this.tcp = new TcpFlowHandler(dispatcher, loopGuard, flowLogger, { connectTimeoutMs: t.connect_ms, idleMs: t.tcp_idle_ms, splice });
      this.udp = new UdpFlowHandler(dispatcher, loopGuard, flowLogger, {
        connectTimeoutMs: t.connect_ms,
        idleMs: t.udp_idle_ms,
        maxSessions: config.udp.max_sessions,
        nativeRelay: config.relay.native_udp,
      });
      for (const ic of config.inbounds) {
        const inbound = new TproxyInbound(ic, native, { tcp: this.tcp, udp: this.udp }, this.logger.child({ component: `inbound/tproxy[${ic.tag}]` }));
        await inbound.start();
        this.inbounds.push(inbound);
      }
    } catch (err) {
      await this.teardown(0);
      this.state = 'stopped';
      throw err;
    }
    this.state = 'running';
    this.logger.info(
      { inbounds: config.inbounds.map((i) => `${i.tag}@${i.listen}:${i.port}`), outbounds: [...this.outbounds.keys()] },
      this.options.announce === false ? 'worker started' : 'sluice started',
    );
  }

  private raiseFileLimit(native: NativeBinding): void {
    try {
      const { soft } = native.raiseFileLimit();
      this.logger.debug({ soft }, 'open-file limit');
      if (soft < 4096) this.logger.warn({ soft }, 'the open-file limit is low: each proxied TCP flow needs two file descriptors');
    } catch (err) {
      this.logger.warn({ err }, 'cannot raise the open-file limit');
    }
  }

  /**
   * Stops accepting, lets open flows finish for up to `drainMs` (default
   * `timeouts.drain_ms`), then cuts the rest and closes the outbounds.
   */
  async stop(drainMs = this.config.timeouts.drain_ms): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    this.state = 'stopping';
    this.logger.info({ active: this.activeFlows, drainMs }, this.options.announce === false ? 'worker stopping' : 'sluice stopping');
    await this.teardown(drainMs);
    this.state = 'stopped';
    this.logger.info(this.options.announce === false ? 'worker stopped' : 'sluice stopped');
  }

  private async teardown(drainMs: number): Promise<void> {
    await Promise.all(this.inbounds.map((i) => i.close()));
    this.inbounds = [];
    const deadline = Date.now() + drainMs;
    while ((this.tcp?.size ?? 0) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    this.tcp?.abortAll('shutdown');
    this.udp?.closeAll('shutdown');
    // Aborted sockets close asynchronously; wait (briefly) so every cut flow still gets its access-log line.
    const cutDeadline = Date.now() + 1000;
    while ((this.tcp?.size ?? 0) > 0 && Date.now() < cutDeadline) await new Promise((r) => setTimeout(r, 10));
    for (const o of this.outbounds.values()) {
      try {
        await o.close();
      } catch (err) {
        this.logger.warn({ err, outbound: o.tag }, 'outbound close failed');
      }
    }
  }
}

/** Builds a {@link Sluice} from a validated config. */
export function createSluice(config: SluiceConfig, options?: SluiceOptions): Sluice {
  return new Sluice(config, options);
}
