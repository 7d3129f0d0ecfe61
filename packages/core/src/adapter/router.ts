import type { Destination, FlowMetadata } from './flow';

/** Which rule matched a flow and which outbound tag it sends the flow to. */
export interface RouteDecision {
  /** The rule's name (`rules[i]` unless named), `final`, or `hook` for an embedder's routing hook. */
  readonly rule: string;
  readonly outbound: string;
}

/** Chooses an outbound for each flow. */
export interface FlowRouter {
  /** The outbound for `flow`, and which rule chose it. */
  route(flow: FlowMetadata): RouteDecision;
}

/**
 * An embedder's routing hook, asked before the rules. Resolving to a tag
 * routes there; resolving to `undefined` falls through to the rules.
 */
export type RoutingHook = (flow: FlowMetadata) => Promise<string | undefined> | string | undefined;

/** What a {@link HostResolver} found for a flow: the destination to route and dial with. */
export interface HostResolution {
  /** Carries the name as `host`; its address may differ from the original (a fake IP is replaced by a real one). */
  readonly dst: Destination;
}

/**
 * Names flows before the rules run (the DNS resolver's IP → name mapping and
 * fake IPs). Asked for every flow; returns undefined to leave the flow as it
 * is, or throws to refuse it (a fake IP with no known name).
 */
export interface HostResolver {
  /** The flow's name and destination, undefined to leave it as it is; throws to refuse the flow. */
  resolve(flow: FlowMetadata): HostResolution | Promise<HostResolution> | undefined;
}
