/**
 * Public API of `@sluice/core`: create and run a Sluice ({@link createSluice}), load and
 * validate its config, write outbound plugins ({@link definePlugin}, {@link defineOutbound}),
 * and the contracts, router, relays and firewall renderer behind them.
 * @module
 */
import 'reflect-metadata';

export * from './adapter';
export * from './errors';
export * from './tokens';
export { registerCoreServices, type CoreServices } from './services';
export { formatEndpoint, unmapAddress, addressFamily } from './util/endpoint';
export { upstreamRefusal } from './util/upstream-refusal';
export { createRootLogger } from './logger';
export { Sluice, createSluice, type SluiceOptions, type SluiceEvents } from './runtime/sluice';
export { describeReload, type ReloadSummary } from './runtime/reload-summary';
export { relayTcp, type TcpRelay, type TcpRelayResult, type TcpRelayOptions } from './relay/stream-relay';
export { UdpSessionTable } from './relay/udp-session-table';
export { definePlugin, defineOutbound, type OutboundSpec } from './outbound/define';
export { parseOutboundOptions } from './outbound/options';
export { coreVersion } from './outbound/compat';
export { BlockOutbound, blockOutbound } from './outbound/block';
export { HijackDnsOutbound, HIJACK_DNS, type DnsQueryHandler } from './outbound/hijack-dns';
export * from './outbound/groups';
export type { GroupControl } from './runtime/group-control';
export { WorkerPool, mergeGroupStates, type WorkerMode, type GroupRequest, type RestartPolicy } from './runtime/worker-pool';
export { CHAIN_SEPARATOR } from './flow/flow-context';
export { BUILTIN_PLUGINS, loadPlugin, registerPlugins } from './outbound/plugins';
export { definitionsByType, planOutbounds, createOutbounds, type PlannedOutbound } from './outbound/registry';
export type * from './config/types';
export { flowClosedChannel, flowRoutedChannel, type FlowOutcome } from './flow/access-log';
export {
  loadConfigFile,
  parseConfig,
  validateConfigFile,
  redactConfig,
  toConfigDocument,
  DEFAULTS,
  LOG_LEVELS,
  type ParseConfigOptions,
} from './config';
export { validateOutbounds } from './config/validate-outbounds';
export { configJsonSchema, builtinOutboundDefinitions, configDocTables, fillDocTables, fieldTable, outboundTable, schemaLabel, optionsJsonSchema } from './schema';
export type { ConfigField, ValueSpec, JsonSchema } from './config-keys/field';
export {
  Router,
  Rule,
  compileRule,
  compileCondition,
  CidrSet,
  PortSet,
  DomainTrie,
  KeywordSet,
  HostSet,
  normalizeHost,
  clashFormOfRule,
  clashFormOfCondition,
  NetworkMatcher,
  InboundMatcher,
  SrcCidrMatcher,
  DstCidrMatcher,
  SrcPortMatcher,
  DstPortMatcher,
  DomainMatcher,
  AllMatcher,
  AnyMatcher,
  NotMatcher,
  RuleSetMatcher,
  CompiledRuleSet,
  RuleSetStore,
  loadRuleSetFile,
  parseRuleSet,
  RuleSetFileError,
  RuleSetParseError,
  type RouterOptions,
  type Matcher,
  type HostPatterns,
  type ClashForm,
  type RuleSetContents,
  type RuleSetStoreOptions,
  type RuleSetRef,
  type RuleSetLookup,
} from './router';
export { parseClashRule, parseClashCondition, ClashSyntaxError, type ClashRule, type ClashCondition } from './config/clash-rules';
export { renderFirewall, planOffload, describeOffload, readOffloadCounters, parseOffloadCounters, OffloadCountersError, NFT_TABLE, applyFirewall, removeFirewall, spawnRunner, FirewallCommandError, type RenderedFirewall, type OffloadPlan, type OffloadRule, type OffloadStop, type OffloadTotals, type PacketBytes, type CommandRunner, type CommandResult } from './firewall';
export {
  spliceRelayEnds,
  spliceConnectRelay,
  spliceAvailable,
  DEFAULT_SPLICE_PIPE_SIZE,
  type SpliceRelayOptions,
  type ConnectingRelay,
  type ConnectingRelayResult,
} from './relay/splice-relay';
export { TcpRelayer, type RelayEnd } from './relay/relay';
export * from './doctor';
export type { SniffOutcome } from './sniff/outcome';
export { sniffTls, MAX_CLIENT_HELLO_BYTES } from './sniff/tls';
export { sniffHttp, MAX_HTTP_HEAD_BYTES } from './sniff/http';
export { sniffStream, StreamSniffer, MAX_SNIFF_BYTES } from './sniff/stream-sniffer';
export { QuicSniffer, type QuicSnifferLimits } from './sniff/quic-sniffer';
export { isDnsQuery, sniffDnsDatagram, sniffDnsStream } from './sniff/dns';
export { DatagramSniffer } from './sniff/datagram-sniffer';
export { clientInitialKeys, QUIC_VERSIONS, type QuicVersion, type QuicInitialKeys } from './sniff/quic-initial-keys';
export * from './dns';
export { OffloadMonitor } from './runtime/offload-monitor';
