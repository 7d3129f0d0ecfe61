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
  private child?: Logger;
  readonly controller = new AbortController();
  constructor(
    readonly flow: FlowMetadata,
    private readonly parent: Logger,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get logger(): Logger {
    this.child ??= this.parent.child({
      flowId: this.flow.id,
      network: this.flow.network,
      src: formatEndpoint(this.flow.src),
      dst: formatEndpoint(this.flow.dst),
    });
    return this.child;
  }
}
