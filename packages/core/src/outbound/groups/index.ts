/**
 * Outbound groups: outbounds that dial through one of their members.
 * One concept a file; this index is what the rest of core imports.
 */
export { groupOutbounds, createGroup } from './definitions';
export { GROUP_TYPES, isGroupType, CHECK_DEFAULTS, groupOptionsSchema, type GroupType, type GroupOptions, type CheckSettings, type LoadBalanceStrategy } from './options';
export { isOutboundGroup, type OutboundGroup, type GroupState, type GroupMemberState, type DelayResult, type DelayTestOptions, type DelaySample } from './group-state';
export { GroupOutbound, type GroupParts } from './group-outbound';
export { SelectorGroup } from './selector';
export { FallbackGroup } from './fallback';
export { UrlTestGroup } from './url-test';
export { LoadBalanceGroup } from './load-balance';
export { HealthMonitor, type Prober } from './health';
export { probeHttp } from './http-probe';
export { rendezvousOrder, siteKey } from './consistent-hash';
export { StickySessions } from './sticky-sessions';
