/**
 * The JSON shapes of the Clash API as mihomo serves them (hub/route/*.go,
 * tunnel/statistic), for the subset the dashboards read.
 */

/** `metadata` of a connection; ports are strings, as in mihomo. */
export interface ClashMetadata {
  readonly network: 'tcp' | 'udp';
  readonly type: 'TProxy';
  readonly sourceIP: string;
  readonly destinationIP: string;
  readonly sourcePort: string;
  readonly destinationPort: string;
  readonly inboundIP: string;
  readonly inboundPort: string;
  readonly inboundName: string;
  readonly inboundUser: string;
  readonly host: string;
  readonly dnsMode: 'normal';
  readonly uid: number;
  readonly process: string;
  readonly processPath: string;
  readonly specialProxy: string;
  readonly specialRules: string;
  readonly remoteDestination: string;
  readonly dscp: number;
  readonly sniffHost: string;
}

/** One entry of `GET /connections`. */
export interface ClashConnection {
  /** The flow id (the access log's `flowId`). */
  readonly id: string;
  readonly metadata: ClashMetadata;
  readonly upload: number;
  readonly download: number;
  /** RFC 3339. */
  readonly start: string;
  /** The final outbound first (the access log's `chain` reversed). */
  readonly chains: readonly string[];
  readonly rule: string;
  readonly rulePayload: string;
}

/** What a worker reports for `GET /connections` (the server adds `memory`). */
export interface ConnectionsSnapshot {
  readonly downloadTotal: number;
  readonly uploadTotal: number;
  readonly connections: ClashConnection[];
}

/** One entry of `GET /rules`. */
export interface ClashRule {
  readonly index: number;
  readonly type: string;
  readonly payload: string;
  readonly proxy: string;
  /** Entries of a rule set; -1 for other rules. */
  readonly size: number;
  /** Flows this rule matched since the start (Sluice's addition; mihomo has no such field). */
  readonly hits: number;
}

/** `mode` of `GET /configs`. */
export type RouteMode = 'rule' | 'global' | 'direct';

/** One `history` entry of a proxy. */
export interface DelayRecord {
  /** RFC 3339. */
  readonly time: string;
  /** Milliseconds; 0 for a failed test. */
  readonly delay: number;
}
