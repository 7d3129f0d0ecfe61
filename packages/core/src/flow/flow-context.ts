import { threadId } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { FlowContext, FlowMetadata } from '../adapter/flow';
import { formatEndpoint } from '../util/endpoint';

let counter = 0;
// Worker threads share the pid, so the thread id keeps their flow ids apart.
const prefix = threadId === 0 ? `${process.pid.toString(36)}-` : `${process.pid.toString(36)}.${threadId}-`;

/** A process-unique flow id; short because it is on every log line of the flow. */
export function nextFlowId(): string {
  return prefix + (++counter).toString(36);
}

/** The separator of the access log's `chain`: `proxy-group > hk-auto > socks-hk`. */
export const CHAIN_SEPARATOR = ' > ';

/**
 * Group choices per flow, as `[group, member]` pairs in dial order. Kept by
 * the flow's metadata object, which outlives the context (a relayed flow
 * drops its context) and is what the access log is written from.
 */
const choices = new WeakMap<FlowMetadata, [string, string][]>();

/** Records that `group` dialled `member` for `flow`; a group's new choice drops its old one and what followed it. */
export function recordChoice(flow: FlowMetadata, group: string, member: string): void {
  let list = choices.get(flow);
  if (!list) choices.set(flow, (list = []));
  const at = list.findIndex(([g]) => g === group);
  if (at >= 0) list.length = at;
  list.push([group, member]);
}

/**
 * The group path to the outbound that carried `flow` (`a > b > member`), or
 * undefined when no group chose anything. Choices that do not nest (a group
 * used as a `via`) are listed in the order they were made.
 */
export function chainOf(flow: FlowMetadata): string | undefined {
  const list = choices.get(flow);
  if (!list || list.length === 0) return undefined;
  const path = [list[0]![0]];
  for (const [group, member] of list) {
    if (path[path.length - 1] !== group) path.push(group);
    path.push(member);
  }
  return path.join(CHAIN_SEPARATOR);
}

/**
 * The {@link FlowContext} handed to outbounds. The per-flow child logger is
 * made on first use: most flows never log anything but their access line.
 */
export class FlowContextImpl implements FlowContext {
  readonly controller = new AbortController();
  readonly signal: AbortSignal = this.controller.signal;
  declare readonly logger: Logger;
  /** See {@link FlowContext.recordChoice}; an own property, so a copied context (`{ ...ctx }`) keeps it. */
  readonly recordChoice: (group: string, member: string) => void;

  constructor(
    readonly flow: FlowMetadata,
    parent: Logger,
  ) {
    this.recordChoice = (group, member) => recordChoice(flow, group, member);
    let child: Logger | undefined;
    // An own, enumerable getter: plugins that copy the context (`{ ...ctx, signal }`) still get a logger.
    Object.defineProperty(this, 'logger', {
      enumerable: true,
      get: (): Logger =>
        (child ??= parent.child({
          flowId: flow.id,
          network: flow.network,
          src: formatEndpoint(flow.src),
          dst: formatEndpoint(flow.dst),
        })),
    });
  }
}
