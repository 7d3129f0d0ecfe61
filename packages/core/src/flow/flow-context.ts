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

/**
 * The {@link FlowContext} handed to outbounds. The per-flow child logger is
 * made on first use: most flows never log anything but their access line.
 */
export class FlowContextImpl implements FlowContext {
  readonly controller = new AbortController();
  readonly signal: AbortSignal = this.controller.signal;
  declare readonly logger: Logger;

  constructor(
    readonly flow: FlowMetadata,
    parent: Logger,
  ) {
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
