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
export { createRootLogger } from './logger';
export { Sluice, createSluice, type SluiceOptions, type SluiceEvents } from './runtime/sluice';
export type { ReloadSummary } from './runtime/reload-summary';
export { relayTcp, type TcpRelay, type TcpRelayResult, type TcpRelayOptions } from './relay/stream-relay';
export { UdpSessionTable } from './relay/udp-session-table';
export { definePlugin, defineOutbound, type OutboundSpec } from './outbound/define';
export { parseOutboundOptions } from './outbound/options';
export { coreVersion } from './outbound/compat';
export { BlockOutbound, blockOutbound } from './outbound/block';
export { BUILTIN_PLUGINS, loadPlugin, registerPlugins } from './outbound/plugins';
export { definitionsByType, planOutbounds, createOutbounds, type PlannedOutbound } from './outbound/registry';
export type * from './config/types';
export { flowClosedChannel, flowRoutedChannel, type FlowOutcome } from './flow/access-log';
export { loadConfigFile, parseConfig, validateConfigFile, redactConfig, toConfigDocument, DEFAULTS, LOG_LEVELS, type ParseConfigOptions } from './config';
export { validateOutbounds } from './config/validate-outbounds';
export { Router, Rule, compileRule, CidrSet, PortSet, NetworkMatcher, InboundMatcher, SrcCidrMatcher, DstCidrMatcher, SrcPortMatcher, DstPortMatcher, type Matcher } from './router';
export { renderFirewall, NFT_TABLE, applyFirewall, removeFirewall, spawnRunner, FirewallCommandError, type RenderedFirewall, type CommandRunner, type CommandResult } from './firewall';
export { spliceRelayEnds, spliceAvailable, DEFAULT_SPLICE_PIPE_SIZE, type SpliceRelayOptions } from './relay/splice-relay';
export { TcpRelayer, type RelayEnd } from './relay/relay';
export * from './doctor';
export * from './dns';
