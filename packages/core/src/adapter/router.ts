import type { FlowMetadata } from './flow';

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
