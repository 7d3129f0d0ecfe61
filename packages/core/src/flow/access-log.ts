import * as diagnostics from 'node:diagnostics_channel';
import type { Logger } from 'pino';
import type { FlowClosedEvent, FlowMetadata, FlowRoutedEvent } from '../adapter/flow';
import { formatEndpoint } from '../util/endpoint';
import { chainOf } from './flow-context';

/** What is known about a flow when it ends. */
export interface FlowOutcome {
  readonly rule: string;
  readonly outbound: string;
  readonly up: number;
  readonly down: number;
  readonly startedAt: number;
  readonly error?: string;
}

/**
 * `diagnostics_channel` on which every finished flow is published as
 * `{ flow, outcome }`, for embedders and metrics without a log parser.
 */
export const flowClosedChannel = diagnostics.channel('sluice:flow:closed');

/** `diagnostics_channel` on which every routed flow is published as `{ flow, rule, outbound }`. */
export const flowRoutedChannel = diagnostics.channel('sluice:flow:routed');

/** Who hears of flows besides the log (an embedder's `flow` / `flow:closed` listeners). */
export interface FlowListener {
  /** Checked on every flow: when false, no event object is built. */
  readonly wantsRouted: boolean;
  readonly wantsClosed: boolean;
  routed(event: FlowRoutedEvent): void;
  closed(event: FlowClosedEvent): void;
}

/**
 * The logger access lines are written with: a child of `logger` with the
 * same bindings and no redaction. The root logger redacts by key name, which
 * pino runs on every value of every line; the access line's keys are fixed
 * and none of those, and its values are strings and numbers, so redaction
 * could never change it, yet it ran on every line. Its level is `trace`:
 * whether a line is written is decided on `logger` itself, so a level set
 * there later still counts.
 */
function accessLogger(logger: Logger): Logger {
  let access = accessLoggers.get(logger);
  if (!access) {
    access = logger.child({}, { redact: [], level: 'trace' });
    accessLoggers.set(logger, access);
  }
  return access;
}
const accessLoggers = new WeakMap<Logger, Logger>();

/** The access-log line's fields. `msg: "flow closed"` and these fields are a contract: add, never rename. */
export function accessLine(flow: FlowMetadata, outcome: FlowOutcome): FlowClosedEvent {
  const line: { -readonly [K in keyof FlowClosedEvent]: FlowClosedEvent[K] } = {
    flowId: flow.id,
    network: flow.network,
    src: formatEndpoint(flow.src),
    dst: formatEndpoint(flow.dst),
    inbound: flow.inbound,
    rule: outcome.rule,
    outbound: outcome.outbound,
    up: outcome.up,
    down: outcome.down,
    durationMs: Date.now() - outcome.startedAt,
  };
  if (flow.dst.host !== undefined) line.host = flow.dst.host;
  if (flow.sniffed !== undefined) line.sniffed = flow.sniffed;
  const hostSource = flow.hostSource ?? (flow.sniffed !== undefined ? 'sniff' : undefined);
  if (hostSource !== undefined && flow.dst.host !== undefined) line.host_source = hostSource;
  if (flow.protocol !== undefined) line.protocol = flow.protocol;
  const chain = chainOf(flow);
  if (chain !== undefined) line.chain = chain;
  if (outcome.error !== undefined) line.error = outcome.error;
  return line;
}

/** Writes the access-log line of a finished flow (and publishes it on {@link flowClosedChannel}). */
export function logFlowClosed(logger: Logger, flow: FlowMetadata, outcome: FlowOutcome, listener?: FlowListener): void {
  // A `flow` event still waiting for its chain goes out first: the routed event always precedes the closed one.
  pendingRouted.get(flow)?.();
  if (flowClosedChannel.hasSubscribers) flowClosedChannel.publish({ flow, outcome });
  const wanted = listener?.wantsClosed === true;
  // At `warn` (the usual production level) a clean flow writes nothing: build no line for it.
  if (!wanted && outcome.error === undefined && !logger.isLevelEnabled('info')) return;
  const line = accessLine(flow, outcome);
  if (outcome.error !== undefined) {
    if (logger.isLevelEnabled('warn')) accessLogger(logger).warn(line, 'flow closed');
  } else if (logger.isLevelEnabled('info')) {
    accessLogger(logger).info(line, 'flow closed');
  }
  if (wanted) tell(logger, () => listener!.closed(line));
}

/** Runs an embedder's listener; one that throws is logged, never allowed into the flow's own code. */
function tell(logger: Logger, call: () => void): void {
  try {
    call();
  } catch (err) {
    logger.error({ err }, 'a flow event listener threw');
  }
}

/** `flow` events reported but not yet emitted, by flow: see {@link reportFlowRouted}. */
const pendingRouted = new WeakMap<FlowMetadata, () => void>();

/**
 * Tells whoever listens that `flow` was routed (the `flow` event and
 * {@link flowRoutedChannel}). The `flow` event is emitted a microtask later:
 * the flow paths report the route just before they start the dial, and an
 * outbound group chooses its member synchronously when the dial starts, so
 * by then the event can carry the `chain`. If the flow ends first, it is
 * emitted before the `flow:closed` event.
 */
export function reportFlowRouted(logger: Logger, flow: FlowMetadata, rule: string, outbound: string, listener?: FlowListener): void {
  if (flowRoutedChannel.hasSubscribers) flowRoutedChannel.publish({ flow, rule, outbound });
  if (listener?.wantsRouted !== true) return;
  const emit = (): void => {
    if (!pendingRouted.delete(flow)) return;
    const event: { -readonly [K in keyof FlowRoutedEvent]: FlowRoutedEvent[K] } = {
      id: flow.id,
      network: flow.network,
      src: formatEndpoint(flow.src),
      dst: formatEndpoint(flow.dst),
      inbound: flow.inbound,
      rule,
      outbound,
    };
    if (flow.dst.host !== undefined) event.host = flow.dst.host;
    if (flow.sniffed !== undefined) event.sniffed = flow.sniffed;
    const chain = chainOf(flow);
    if (chain !== undefined) event.chain = chain;
    tell(logger, () => listener.routed(event));
  };
  pendingRouted.set(flow, emit);
  queueMicrotask(emit);
}
