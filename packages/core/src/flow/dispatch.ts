import type { Logger } from 'pino';
import type { Destination, Endpoint, FlowMetadata, HostSource } from '../adapter/flow';
import type { Outbound } from '../adapter/outbound';
import type { FlowRouter, HostResolution, HostResolver, RouteDecision, RoutingHook } from '../adapter/router';
import { ErrorCode, SluiceError } from '../errors';
import { RateLimitedLog } from '../util/rate-limited-log';

/**
 * One generation of routing: the rules and the outbounds they name. A reload
 * makes a new one; the old one stays alive while flows routed through it
 * last, and is told when the last of them ended so its outbounds can close.
 */
export class RouteTable {
  private flows = 0;
  private onDrained: (() => void) | undefined;

  constructor(
    readonly router: FlowRouter,
    readonly outbounds: ReadonlyMap<string, Outbound>,
  ) {}

  /** A flow was routed through this table. */
  acquire(): void {
    this.flows++;
  }

  /** A flow routed through this table ended. */
  release(): void {
    if (--this.flows === 0 && this.onDrained) {
      const f = this.onDrained;
      this.onDrained = undefined;
      f();
    }
  }

  /** No new flows come here; `drained` runs once the last flow has ended (at once if there is none). */
  retire(drained: () => void): void {
    if (this.flows === 0) drained();
    else this.onDrained = drained;
  }
}

/** A routing decision with the outbound it names and the table it came from. */
export interface Dispatch extends RouteDecision {
  readonly target: Outbound;
  /** Released by the flow when it ends (see {@link RouteTable.release}). */
  readonly table: RouteTable;
}

/** Options of {@link Dispatcher}. */
export interface DispatcherOptions {
  readonly hook?: RoutingHook;
  /** Past this, the rules decide and a warning is logged; default 1000. */
  readonly hookTimeoutMs?: number;
  readonly logger: Logger;
  /** Names flows before routing (the DNS resolver); a flow it throws for is refused. */
  readonly hosts?: HostResolver;
}

/**
 * Turns a flow into an outbound: the embedder's hook first (if any, bounded
 * by its timeout), then the rules of the current {@link RouteTable}. Shared
 * by the TCP and UDP paths so they can never disagree.
 */
export class Dispatcher {
  private table: RouteTable;
  private readonly hook: RoutingHook | undefined;
  private readonly hookTimeoutMs: number;
  private readonly warnings: RateLimitedLog;

  constructor(table: RouteTable, private readonly opts: DispatcherOptions) {
    this.table = table;
    this.hook = opts.hook;
    this.hookTimeoutMs = opts.hookTimeoutMs ?? 1000;
    this.warnings = new RateLimitedLog(opts.logger);
  }

  /** The table new flows are routed with. */
  get current(): RouteTable {
    return this.table;
  }

  /** Routes new flows with `table` from now on; returns the one it replaces. */
  replace(table: RouteTable): RouteTable {
    const old = this.table;
    this.table = table;
    return old;
  }

  /** Synchronous when there is no hook (and no name to wait for), so the common path allocates no promise. */
  dispatch(flow: FlowMetadata): Dispatch | Promise<Dispatch> {
    const named = this.opts.hosts?.resolve(flow);
    if (named === undefined) return this.route(flow);
    if (named instanceof Promise) return named.then((r) => this.route(withHost(flow, r)));
    return this.route(withHost(flow, named));
  }

  private route(flow: FlowMetadata): Dispatch | Promise<Dispatch> {
    if (!this.hook) {
      const table = this.table;
      return this.resolve(table.router.route(flow), flow, table);
    }
    return this.askHook(flow).then((tag) => {
      const table = this.table;
      return this.resolve(tag === undefined ? table.router.route(flow) : { rule: 'hook', outbound: tag }, flow, table);
    });
  }

  /** The hook's answer; undefined (the rules decide) when it throws or takes longer than its timeout. */
  private askHook(flow: FlowMetadata): Promise<string | undefined> {
    const hook = this.hook!;
    const ms = this.hookTimeoutMs;
    return new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => {
        this.warnings.warn('hook-timeout', { flowId: flow.id, timeoutMs: ms }, 'routing hook timed out; the rules decide');
        resolve(undefined);
      }, ms);
      const settle = (tag: string | undefined): void => {
        clearTimeout(timer);
        resolve(tag);
      };
      let answer: ReturnType<RoutingHook>;
      try {
        answer = hook(flow);
      } catch (err) {
        this.warnings.warn('hook-error', { flowId: flow.id, err }, 'routing hook threw; the rules decide');
        return settle(undefined);
      }
      Promise.resolve(answer).then(settle, (err: unknown) => {
        this.warnings.warn('hook-error', { flowId: flow.id, err }, 'routing hook threw; the rules decide');
        settle(undefined);
      });
    });
  }

  private resolve(decision: RouteDecision, flow: FlowMetadata, table: RouteTable): Dispatch {
    const target = table.outbounds.get(decision.outbound);
    if (!target) throw new SluiceError(ErrorCode.CONFIG, `route: unknown outbound "${decision.outbound}"`);
    if (!target.networks.includes(flow.network)) {
      throw new SluiceError(ErrorCode.UNSUPPORTED_NETWORK, `outbound "${target.tag}" (${target.type}) does not carry ${flow.network}`);
    }
    return { rule: decision.rule, outbound: decision.outbound, target, table };
  }
}

/**
 * Puts what the host resolver found into the flow itself, before anything
 * routes, dials or logs it: the flow object is the one record of the flow.
 */
function withHost(flow: FlowMetadata, r: HostResolution): FlowMetadata {
  const f = flow as { dst: Destination; hostSource?: HostSource; addressedTo?: Endpoint };
  // A fake IP replaced by a real address: the flow keeps the one the client sent to.
  if (r.dst.address !== flow.dst.address) f.addressedTo = { address: flow.dst.address, port: flow.dst.port };
  f.dst = r.dst;
  f.hostSource = 'dns';
  return flow;
}
