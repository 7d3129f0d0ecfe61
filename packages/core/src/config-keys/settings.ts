import { DEFAULTS, LOG_LEVELS, MAX_TIMER_MS } from './defaults';
import { anyOf, boolValue, cidrValue, constValue, enumValue, intValue, listOf, markValue, stringValue, textValue, type ConfigField } from './field';

/** `log`. */
export const LOG_FIELDS: readonly ConfigField[] = [
  { key: 'level', value: enumValue(LOG_LEVELS), default: DEFAULTS.logLevel, description: `pino level: ${LOG_LEVELS.map((l) => `\`${l}\``).join(', ')}` },
];

/** `relay`. */
export const RELAY_FIELDS: readonly ConfigField[] = [
  {
    key: 'splice',
    value: boolValue,
    default: true,
    description:
      'relay TCP flows between two plain sockets (the `direct` outbound, and SOCKS once its handshake is done) in the kernel with `splice()`; Sluice falls back to the stream relay when a flow is not eligible or the kernel refuses',
  },
  {
    key: 'native_udp',
    value: boolValue,
    default: true,
    description:
      "once a UDP session is routed to an outbound that hands over a plain connected socket (the `direct` outbound), the inbound's native code relays its datagrams both ways (`recvmmsg` / `sendmmsg`) with no JavaScript per datagram; the session's idle timeout and `udp.max_sessions` apply there too, and its access-log line carries the same byte counts. `false` keeps every datagram on the JavaScript path (a `PacketChannel`)",
  },
];

const timer = (min: number) => intValue(min, MAX_TIMER_MS);

/** `timeouts`. */
export const TIMEOUT_FIELDS: readonly ConfigField[] = [
  { key: 'connect_ms', value: timer(1), default: DEFAULTS.timeouts.connect_ms, description: 'outbound connect timeout' },
  { key: 'tcp_idle_ms', value: timer(1), default: DEFAULTS.timeouts.tcp_idle_ms, description: 'a TCP flow with no bytes either way this long is closed' },
  { key: 'udp_idle_ms', value: timer(1), default: DEFAULTS.timeouts.udp_idle_ms, description: 'a UDP session with no datagram either way this long is closed' },
  // Zero is meaningful here: cut open flows at once on shutdown.
  { key: 'drain_ms', value: timer(0), default: DEFAULTS.timeouts.drain_ms, description: 'on shutdown, how long open flows may finish; `0` cuts them at once' },
];

/** `udp`. */
export const UDP_FIELDS: readonly ConfigField[] = [
  {
    key: 'max_sessions',
    value: timer(1),
    default: DEFAULTS.udp.max_sessions,
    description:
      'most UDP sessions at once, for the whole of Sluice: every inbound, sessions carried in JavaScript and those the inbounds\' native session tables relay, all workers together (each worker keeps `ceil(max_sessions / workers)`). Past it the least recently used session of them all is closed (access-log `error: "session limit"`). Lowered at start to what the open-file limit allows (see `limits`), with a warning',
  },
];

/** `limits`. */
export const LIMIT_FIELDS: readonly ConfigField[] = [
  {
    key: 'max_tcp_flows',
    value: anyOf(`\`auto\` or integer 1-${MAX_TIMER_MS}`, constValue('auto'), timer(1)),
    default: DEFAULTS.limits.max_tcp_flows,
    description:
      'most TCP flows at once, for the whole of Sluice (each worker keeps `ceil(max_tcp_flows / workers)`). Past it a new connection is reset at once, without being routed or dialled: one access-log line per refused flow with `error: "limit: max_tcp_flows (N) reached"`, and one rate-limited warning (`refused new tcp flows: limits.max_tcp_flows reached`, with the number suppressed). Flows already open are not touched. `auto` derives it from the open-file limit at start',
  },
];

/** Linux interface names as `firewall.interfaces` takes them (they go into nft text, so no quotes). */
export const IFNAME_PATTERN = '^[^\\s/:"\'\\\\]{1,15}$';

/** `firewall`: what `sluice rules` renders. */
export const FIREWALL_FIELDS: readonly ConfigField[] = [
  { key: 'fwmark', value: markValue, default: DEFAULTS.firewall.fwmark, defaultText: '`0x1`', description: 'mark that policy routing sends to `table`' },
  {
    key: 'table',
    value: intValue(1, 0x7fffffff),
    default: DEFAULTS.firewall.table,
    description: "routing table for `local default dev lo`; not 253-255 (the kernel's default, main and local tables)",
  },
  {
    key: 'bypass_mark',
    value: markValue,
    defaultText: 'the `mark` of the first outbound that has one, else `0x2`',
    description: 'packets carrying these bits are never captured; must not be contained in `fwmark`',
  },
  {
    key: 'interfaces',
    value: anyOf('interface name or list', textValue('interface name', IFNAME_PATTERN), listOf(textValue('interface name', IFNAME_PATTERN))),
    default: [],
    description: 'capture only packets arriving on these interfaces (`eth1`, `wg*`); empty = every interface but `lo`',
  },
  {
    key: 'bypass_cidr',
    value: anyOf('CIDR or list', cidrValue, listOf(cidrValue)),
    default: [...DEFAULTS.firewall.bypass_cidr],
    defaultText: DEFAULTS.firewall.bypass_cidr.map((c) => `\`${c}\``).join(', '),
    description: 'destinations never captured; **a list given here replaces the defaults**',
  },
  { key: 'local', value: boolValue, default: false, description: "also capture this host's own outgoing traffic" },
  {
    key: 'offload',
    value: boolValue,
    default: false,
    description:
      'compile the leading rules that send address/port sets to a plain `direct` outbound into nftables sets: the kernel forwards such flows, they never reach Sluice, and nftables counters count them ([firewall.md](firewall.md#kernel-fast-path-firewalloffload))',
  },
];

/** The top-level keys that are plain values, not sections. */
export const WORKER_FIELDS: readonly ConfigField[] = [
  {
    key: 'workers',
    value: anyOf('`auto` or integer 1-256', constValue('auto'), intValue(1, 256)),
    default: 1,
    description:
      'event loops to run, each a whole Sluice with its own `SO_REUSEPORT` listeners, so the kernel spreads flows across them; `auto` is one per CPU. `sluice run --workers N` overrides it',
  },
  {
    key: 'worker_mode',
    value: enumValue(['process', 'thread']),
    default: 'process',
    description: 'workers as processes (each has its own open-file limit; a crash takes down one worker only) or threads of one process. `--worker-mode` overrides it',
  },
  {
    key: 'plugins',
    value: listOf(stringValue),
    default: [],
    description: 'npm package names (or paths) of third-party plugins to load besides the built-in ones; duplicates are an error',
  },
];

