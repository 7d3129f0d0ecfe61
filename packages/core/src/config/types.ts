import type { Network } from '../adapter/flow';
import type { OutboundEntry } from '../adapter/plugin';
import type { ControlConfig } from './control';
import type { DnsConfig } from './dns';
import { RULE_PROTOCOLS } from '../config-keys/route';
export type { OutboundEntry, ControlConfig };
export type { DnsConfig, DnsUpstreamConfig, DnsRuleConfig, DnsCacheConfig } from './dns';

/**
 * The validated config. Key names follow the config file (snake_case) so that
 * what users write, what `sluice check` reports and what code reads agree.
 */
export interface SluiceConfig {
  readonly log: LogConfig;
  /** Extra plugin packages to load by name, besides the built-in ones. */
  readonly plugins: readonly string[];
  readonly inbounds: readonly InboundConfig[];
  /** Outbound entries; type-specific keys are validated later by the type's factory. */
  readonly outbounds: readonly OutboundEntry[];
  readonly route: RouteConfig;
  readonly firewall: FirewallConfig;
  readonly timeouts: TimeoutsConfig;
  readonly udp: UdpConfig;
  readonly limits: LimitsConfig;
  readonly relay: RelayConfig;
  /** Event loops to run (worker threads with SO_REUSEPORT listeners), or `auto` for one per CPU; default 1. */
  readonly workers: number | 'auto';
  /** How workers run when there are several: `process` (default; each has its own open-file limit) or `thread`. */
  readonly worker_mode: 'process' | 'thread';
  /** The built-in DNS resolver; absent when the config has no `dns` section. */
  readonly dns?: DnsConfig;
  /** Directory of the config file, for resolving relative paths (plugins, rule files). */
  readonly baseDir: string;
  /** The control API (`control` section); absent: off. */
  readonly control?: ControlConfig;
}

/** `log`: logging. */
export interface LogConfig {
  /** pino level: trace, debug, info, warn, error, fatal, silent. */
  readonly level: string;
}

/** One entry of `inbounds`: a TPROXY listener. */
export interface InboundConfig {
  readonly tag: string;
  /**
   * `tproxy`: TPROXY target, TCP and UDP, destination unchanged. `redirect`:
   * nat REDIRECT target, TCP only, original destination from conntrack
   * (`SO_ORIGINAL_DST`), for kernels or setups without TPROXY.
   */
  readonly type: 'tproxy' | 'redirect';
  /** IP literal. */
  readonly listen: string;
  readonly port: number;
  readonly network: readonly Network[];
  /** `SO_REUSEPORT` on the listeners. */
  readonly reuse_port: boolean;
  /** Read the host name from the first bytes (TLS SNI, HTTP Host, QUIC Initial) before routing; default false. */
  readonly sniff: boolean;
  /** How long a client that has sent nothing or an incomplete message may hold routing (ms); default 300. */
  readonly sniff_timeout_ms: number;
  /** Outbounds dial the sniffed name instead of the original address; default false. */
  readonly override_destination: boolean;
}

/** What a `protocol` condition names (the list is the descriptor's, in config-keys/route.ts). */
export type RuleProtocol = (typeof RULE_PROTOCOLS)[number];
export { RULE_PROTOCOLS };

/** A port or an inclusive range. */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/**
 * The conditions of a rule, or of an entry inside `all`, `any` or `not`.
 * Every present field must match (AND), except that the four domain fields
 * together are one condition: the host matches any of them.
 */
export interface ConditionConfig {
  readonly network?: readonly Network[];
  readonly inbound?: readonly string[];
  readonly src_cidr?: readonly string[];
  readonly dst_cidr?: readonly string[];
  readonly src_port?: readonly PortRange[];
  readonly dst_port?: readonly PortRange[];
  /**
   * Application protocols: `dns` (port 53, or first bytes that are a DNS
   * query on a sniffing inbound), `tls`, `http`, `quic` (the sniffer that found the name).
   */
  readonly protocol?: readonly RuleProtocol[];
  /** Host names matched exactly (lower-cased, trailing dot removed). */
  readonly domain?: readonly string[];
  /** `example.com` matches example.com and every name under it; `.example.com` only the names under it. */
  readonly domain_suffix?: readonly string[];
  /** Substrings of the host. */
  readonly domain_keyword?: readonly string[];
  /** Regular expressions (JavaScript syntax, case-insensitive) tested against the host. */
  readonly domain_regex?: readonly string[];
  /** Tags of `route.rule_sets`; the flow matches when any of them matches. */
  readonly rule_set?: readonly string[];
  /** Every entry matches. */
  readonly all?: readonly ConditionConfig[];
  /** At least one entry matches. */
  readonly any?: readonly ConditionConfig[];
  /** The entry does not match. */
  readonly not?: ConditionConfig;
}

/** One routing rule as written (a mapping or a Clash rule line); all present conditions must match. */
export interface RuleConfig extends ConditionConfig {
  /** Label used in logs; defaults to `rules[i]`. */
  readonly name: string;
  readonly outbound: string;
  /** The Clash rule line this rule was read from, when it was one (`DOMAIN-SUFFIX,example.com,proxy`). */
  readonly clash?: string;
}

/** One entry of `route.rule_sets`: a file of domains, CIDRs or rules, watched and reloaded when it changes. */
export interface RuleSetConfig {
  readonly tag: string;
  readonly type: 'file';
  /** Absolute path (a relative path in the config is resolved against the config file's directory). */
  readonly path: string;
  readonly format: RuleSetFormat;
  /** For `format: clash`: what the payload holds. */
  readonly behavior?: ClashBehavior;
}

/** `text` (one entry a line), `clash` (a rule-provider YAML), `sing-box` (a source rule-set JSON). */
export type RuleSetFormat = 'text' | 'clash' | 'sing-box';

/** What a Clash rule-provider's payload holds. */
export type ClashBehavior = 'domain' | 'ipcidr' | 'classical';

/** `route`: the ordered rules, the rule sets they use, and the outbound for flows no rule matches. */
export interface RouteConfig {
  readonly rules: readonly RuleConfig[];
  readonly rule_sets: readonly RuleSetConfig[];
  readonly final: string;
  /** How long an embedder's routing hook may take before the rules decide (ms); default 1000. */
  readonly hook_timeout_ms: number;
}

/** What `sluice rules` renders. */
export interface FirewallConfig {
  /** fwmark that policy routing sends to the local table. */
  readonly fwmark: number;
  /** Routing table number for `local default dev lo`. */
  readonly table: number;
  /** Packets carrying this mark (Sluice's own outbound traffic) are never captured. */
  readonly bypass_mark: number;
  /** Capture only packets arriving on these interfaces; empty = all but lo. */
  readonly interfaces: readonly string[];
  /** Destinations never captured, besides the host's own addresses. */
  readonly bypass_cidr: readonly string[];
  /** Also capture this host's own outgoing traffic (output chain). */
  readonly local: boolean;
  /**
   * Compile the leading rules that send address/port sets to a plain `direct`
   * outbound into nftables sets: such flows are forwarded by the kernel and
   * never reach Sluice; nftables counters count them. Default false.
   */
  readonly offload: boolean;
}

/** `timeouts`, in milliseconds. */
export interface TimeoutsConfig {
  /** Outbound connect timeout. */
  readonly connect_ms: number;
  /** A TCP flow with no bytes either way this long is closed. */
  readonly tcp_idle_ms: number;
  /** A UDP session with no datagram either way this long is closed. */
  readonly udp_idle_ms: number;
  /** On shutdown, how long open flows may finish before they are cut. */
  readonly drain_ms: number;
}

/** `udp`: UDP session limits. */
export interface UdpConfig {
  /** Most UDP sessions at once; the least recently used is closed past it. */
  readonly max_sessions: number;
}

/** Caps for the whole of Sluice (all inbounds, all workers); see docs/config.md. */
export interface LimitsConfig {
  /**
   * Most TCP flows at once; new connections past it are reset. `auto`
   * (default): derived from the open-file limit at start.
   */
  readonly max_tcp_flows: number | 'auto';
}

/** `relay`: which kernel and native fast paths the relays may use. */
export interface RelayConfig {
  /**
   * Relay TCP flows whose bytes no JavaScript needs to see (both sides plain
   * sockets) in the kernel with splice(); falls back to the stream relay when
   * unavailable. Default true.
   */
  readonly splice: boolean;
  /**
   * Relay UDP sessions of outbounds that hand over a connected socket (the
   * `direct` outbound) natively, with no JavaScript per datagram. Default true.
   */
  readonly native_udp: boolean;
}
