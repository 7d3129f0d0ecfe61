import type { FlowMetadata } from '../adapter/flow';
import type { Outbound } from '../adapter/outbound';
import type { FlowRouter, RouteDecision, RoutingHook } from '../adapter/router';
import { ErrorCode, SluiceError } from '../errors';

/** A routing decision with the outbound it names. */
export interface Dispatch extends RouteDecision {
  readonly target: Outbound;
}

/**
 * Turns a flow into an outbound: the embedder's hook first (if any), then the
 * compiled rules. Shared by the TCP and UDP paths so they can never disagree.
 */
export class Dispatcher {
  constructor(
    private readonly router: FlowRouter,
    private readonly outbounds: ReadonlyMap<string, Outbound>,
    private readonly hook?: RoutingHook,
  ) {}

  /** Synchronous when there is no hook, so the common path allocates no promise. */
  dispatch(flow: FlowMetadata): Dispatch | Promise<Dispatch> {
    if (!this.hook) return this.resolve(this.router.route(flow), flow);
    return Promise.resolve(this.hook(flow)).then((tag) =>
      this.resolve(tag === undefined ? this.router.route(flow) : { rule: 'hook', outbound: tag }, flow),
    );
  }

  private resolve(decision: RouteDecision, flow: FlowMetadata): Dispatch {
    const target = this.outbounds.get(decision.outbound);
    if (!target) throw new SluiceError(ErrorCode.CONFIG, `route: unknown outbound "${decision.outbound}"`);
    if (!target.networks.includes(flow.network)) {
      throw new SluiceError(ErrorCode.UNSUPPORTED_NETWORK, `outbound "${target.tag}" (${target.type}) does not carry ${flow.network}`);
    }
    return { ...decision, target };
  }
}
