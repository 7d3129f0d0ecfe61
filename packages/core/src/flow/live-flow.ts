import type { FlowMetadata } from '../adapter/flow';

/** Bytes a flow has moved so far: from the client towards the remote, and back. */
export interface FlowBytes {
  readonly up: number;
  readonly down: number;
}

/**
 * A flow in progress as the control API sees it: what it is, where it went,
 * the bytes it has moved so far (read from its relay, so a kernel-spliced
 * download counts while it runs), and a way to end it.
 */
export interface LiveFlow {
  readonly flow: FlowMetadata;
  /** The rule that routed it; empty while it is being routed. */
  readonly rule: string;
  /** The outbound tag; empty while it is being routed. */
  readonly outbound: string;
  /** `Date.now()` when it was accepted. */
  readonly startedAt: number;
  bytes(): FlowBytes;
  /** Ends the flow now: a TCP flow is reset on both sides, a UDP session ended. `reason` goes in its access-log line. */
  close(reason: string): void;
}
