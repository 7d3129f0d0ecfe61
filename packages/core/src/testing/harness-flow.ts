import type { Logger } from 'pino';
import type { Destination, Endpoint, FlowMetadata, Network } from '../adapter/flow';
import { ErrorCode, SluiceError } from '../errors';
import { FlowContextImpl, nextFlowId } from '../flow/flow-context';
import type { CapturedLogger, LogLine } from './capture-logger';
import type { AccessLogLine } from './access-line';

/** Options shared by `runTcp` and `runUdp`. */
export interface RunOptions {
  /** Where the flow goes; default: a fresh local peer (an echo server unless `server` is given). */
  readonly dst?: Destination;
  /** The flow's inbound tag in its access line; default `test`. */
  readonly inbound?: string;
  /** The rule name in the access line; default `test`. */
  readonly rule?: string;
  /** Like `timeouts.connect_ms`: the dial is aborted through the flow's signal after this; default 10000. */
  readonly connectTimeoutMs?: number;
  /** The whole run ends (aborted, for TCP) after this; default 10000. */
  readonly timeoutMs?: number;
  /** The logger the outbound and the access line write to; default a fresh {@link captureLogger}. */
  readonly logger?: CapturedLogger;
}

/** What every run returns besides its payload. */
export interface RunRecord {
  readonly flow: FlowMetadata;
  /** The access-log line core would have written for this flow. */
  readonly line: AccessLogLine;
  /** Every line logged during the run (the outbound's own, the access line). */
  readonly lines: readonly LogLine[];
}

/** A flow as core makes it: a process-unique id and the context handed to the outbound. */
export function newFlow(network: Network, src: Endpoint, dst: Destination, options: RunOptions, logger: Logger): FlowContextImpl {
  const flow: FlowMetadata = { id: nextFlowId(), network, inbound: options.inbound ?? 'test', src, dst };
  return new FlowContextImpl(flow, logger);
}

/**
 * Waits for `dial` as core does: after `ms` the flow's signal is aborted
 * with `connect timeout after <ms> ms` and the wait ends with that; what
 * `dial` yields later goes to `dispose`.
 */
export function dialWithTimeout<T>(ctx: FlowContextImpl, dial: Promise<T>, ms: number, dispose: (late: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      ctx.controller.abort(new SluiceError(ErrorCode.DIAL_TIMEOUT, `connect timeout after ${ms} ms`));
      settled = true;
      reject(ctx.signal.reason);
    }, ms);
    dial.then(
      (value) => {
        clearTimeout(timer);
        if (settled) return dispose(value);
        settled = true;
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        reject(err);
      },
    );
  });
}
