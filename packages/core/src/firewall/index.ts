/** `sluice rules`: the nftables ruleset and policy routing a config needs. */
export { renderFirewall, hasTransparentOutbound, NFT_TABLE } from './render';
export { planOffload, describeOffload } from './offload-plan';
export type { OffloadPlan, OffloadRule, OffloadStop } from './offload-plan';
export { OFFLOAD_COUNTERS } from './offload-render';
export type { RenderedFirewall } from './render';
export { applyFirewall, removeFirewall, spawnRunner, FirewallCommandError } from './apply';
export type { CommandRunner, CommandResult } from './apply';
export { readOffloadCounters, parseOffloadCounters, OffloadCountersError } from './offload-counters';
export type { OffloadTotals, PacketBytes } from './offload-counters';
