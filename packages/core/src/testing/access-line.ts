import type { LogLine } from './capture-logger';

/**
 * The access-log line core writes when a flow ends (`msg: "flow closed"`);
 * its fields are a contract: added to, never renamed.
 */
export interface AccessLogLine {
  readonly msg: 'flow closed';
  readonly flowId: string;
  readonly network: 'tcp' | 'udp';
  /** `address:port` (`[v6]:port`). */
  readonly src: string;
  readonly dst: string;
  readonly inbound: string;
  readonly rule: string;
  readonly outbound: string;
  readonly up: number;
  readonly down: number;
  readonly durationMs: number;
  /** The sniffed or hooked host name, when there was one. */
  readonly host?: string;
  /** Why the flow failed; absent for a clean end. */
  readonly error?: string;
}

/** The `flow closed` line of flow `flowId` among `lines`, if written. */
export function findAccessLine(lines: readonly LogLine[], flowId: string): AccessLogLine | undefined {
  return lines.find((l) => l.msg === 'flow closed' && l.flowId === flowId) as AccessLogLine | undefined;
}
