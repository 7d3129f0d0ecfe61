import type { FlowClosedEvent } from '../adapter/flow';
import type { LogLine } from './capture-logger';

/**
 * The access-log line core writes when a flow ends (`msg: "flow closed"`);
 * its fields are a contract: added to, never renamed.
 */
export interface AccessLogLine extends FlowClosedEvent {
  readonly msg: 'flow closed';
}

/** The `flow closed` line of flow `flowId` among `lines`, if written. */
export function findAccessLine(lines: readonly LogLine[], flowId: string): AccessLogLine | undefined {
  return lines.find((l) => l.msg === 'flow closed' && l.flowId === flowId) as AccessLogLine | undefined;
}
