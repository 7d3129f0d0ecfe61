import * as diagnostics from 'node:diagnostics_channel';
import type { Logger } from 'pino';
import type { FlowMetadata } from '../adapter/flow';
import { formatEndpoint } from '../util/endpoint';

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

/**
 * The logger access lines are written with: a child of `logger` with the
 * same bindings and no redaction. The root logger redacts by key name
 * (`password`, `*.password`…), which pino runs on every value of every line;
 * the access line's keys are fixed and none of those, and its values are
 * strings and numbers, so redaction could never change it, yet it was about
 * half of what writing the line cost. Its level is `trace`: whether a line is
 * written is decided on `logger` itself, so a level set there later still counts.
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

/**
 * Writes the access-log line of a finished flow. `msg: "flow closed"` and its
 * fields are a contract (checked from outside), so add fields, never rename.
 */
export function logFlowClosed(logger: Logger, flow: FlowMetadata, outcome: FlowOutcome): void {
  if (flowClosedChannel.hasSubscribers) flowClosedChannel.publish({ flow, outcome });
  // At `warn` (the usual production level) a clean flow writes nothing: build no line for it.
  if (outcome.error === undefined && !logger.isLevelEnabled('info')) return;
  const line: Record<string, unknown> = {
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
  if (outcome.error !== undefined) {
    line.error = outcome.error;
    if (logger.isLevelEnabled('warn')) accessLogger(logger).warn(line, 'flow closed');
  } else {
    accessLogger(logger).info(line, 'flow closed');
  }
}
