import type { FirewallConfig, LimitsConfig, LogConfig, OutboundEntry, RelayConfig, TimeoutsConfig, UdpConfig } from './types';
import { DEFAULTS, LOG_LEVELS, MAX_TIMER_MS } from './defaults';
import { readCidrs } from './route';
import { fieldOf, keysOf } from '../config-keys/field';
import { FIREWALL_FIELDS, LIMIT_FIELDS, LOG_FIELDS, RELAY_FIELDS, TIMEOUT_FIELDS, UDP_FIELDS } from '../config-keys/settings';
import { at, checkInt, IssueList, Obj, readBoolField, readInt, readIntField, readList, readSection, show, toInt } from './reader';

const MARK = { min: 1, max: 0xffffffff } as const;
const COUNT = { min: 1, max: MAX_TIMER_MS } as const;
// Linux ifnames: at most 15 bytes, no '/', ':' or whitespace; quotes are refused too because names go into nft text.
const IFNAME = /^[^\s/:"'\\]{1,15}$/;

/** Reads `log`; the level must be a pino level. */
export function readLog(root: Obj, issues: IssueList): LogConfig {
  const obj = readSection(root, 'log', keysOf(LOG_FIELDS), issues);
  if (obj.level === undefined) return { level: DEFAULTS.logLevel };
  if (typeof obj.level !== 'string' || !(LOG_LEVELS as readonly string[]).includes(obj.level)) {
    issues.add('log.level', `must be one of ${LOG_LEVELS.join(', ')} (got ${show(obj.level)})`);
    return { level: DEFAULTS.logLevel };
  }
  return { level: obj.level };
}

/** Reads `plugins`: package names, without duplicates. */
export function readPlugins(root: Obj, issues: IssueList): string[] {
  const v = root.plugins;
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    issues.add('plugins', 'must be a list of package names');
    return [];
  }
  const seen = new Set<string>();
  v.forEach((name, i) => {
    if (typeof name !== 'string' || name.trim() === '') issues.add(at('plugins', i), `must be a package name (got ${show(name)})`);
    else if (seen.has(name)) issues.add(at('plugins', i), `duplicate plugin "${name}"`);
    else seen.add(name);
  });
  return [...seen];
}

/** Reads `timeouts`; each fits a Node timer. */
export function readTimeouts(root: Obj, issues: IssueList): TimeoutsConfig {
  const obj = readSection(root, 'timeouts', keysOf(TIMEOUT_FIELDS), issues);
  const read = (key: keyof TimeoutsConfig): number => readIntField(obj, fieldOf(TIMEOUT_FIELDS, key), 'timeouts', issues);
  return { connect_ms: read('connect_ms'), tcp_idle_ms: read('tcp_idle_ms'), udp_idle_ms: read('udp_idle_ms'), drain_ms: read('drain_ms') };
}

/** Reads `udp`. */
export function readUdp(root: Obj, issues: IssueList): UdpConfig {
  const obj = readSection(root, 'udp', keysOf(UDP_FIELDS), issues);
  return { max_sessions: readIntField(obj, fieldOf(UDP_FIELDS, 'max_sessions'), 'udp', issues) };
}

/** Reads `limits`: `max_tcp_flows` is `auto` (derived from the open-file limit at start) or a count. */
export function readLimits(root: Obj, issues: IssueList): LimitsConfig {
  const obj = readSection(root, 'limits', keysOf(LIMIT_FIELDS), issues);
  const v = obj.max_tcp_flows;
  if (v === undefined || v === 'auto') return { max_tcp_flows: DEFAULTS.limits.max_tcp_flows };
  return { max_tcp_flows: checkInt(v, 'limits.max_tcp_flows', COUNT, issues) ?? DEFAULTS.limits.max_tcp_flows };
}

export function readRelay(root: Obj, issues: IssueList): RelayConfig {
  const obj = readSection(root, 'relay', keysOf(RELAY_FIELDS), issues);
  return { splice: readBoolField(obj, fieldOf(RELAY_FIELDS, 'splice'), 'relay', issues), native_udp: readBoolField(obj, fieldOf(RELAY_FIELDS, 'native_udp'), 'relay', issues) };
}

/** `workers`: `auto` or a whole number of event loops; default 1. */
export function readWorkers(root: Obj, issues: IssueList): number | 'auto' {
  const v = root.workers;
  if (v === undefined) return 1;
  if (v === 'auto') return 'auto';
  return checkInt(v, 'workers', { min: 1, max: 256 }, issues) ?? 1;
}

/** `worker_mode`: `process` (default) or `thread`. */
export function readWorkerMode(root: Obj, issues: IssueList): 'process' | 'thread' {
  const v = root.worker_mode;
  if (v === undefined || v === 'process' || v === 'thread') return v ?? 'process';
  issues.add('worker_mode', `must be "process" or "thread" (got ${show(v)})`);
  return 'process';
}

/** The mark of the first outbound with a numeric `mark`: its traffic is what must escape capture. */
function markFromOutbounds(outbounds: readonly OutboundEntry[]): number | undefined {
  for (const o of outbounds) {
    const m = toInt(o.raw.mark);
    if (m !== undefined && m >= MARK.min && m <= MARK.max) return m;
  }
  return undefined;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * Reads `firewall`. `bypass_mark` defaults to the first outbound mark, and must
 * not be contained in `fwmark`, or captured packets would look like Sluice's own.
 */
export function readFirewall(root: Obj, outbounds: readonly OutboundEntry[], issues: IssueList): FirewallConfig {
  const obj = readSection(root, 'firewall', keysOf(FIREWALL_FIELDS), issues);
  const d = DEFAULTS.firewall;
  const fwmark = readIntField(obj, fieldOf(FIREWALL_FIELDS, 'fwmark'), 'firewall', issues);
  const table = readIntField(obj, fieldOf(FIREWALL_FIELDS, 'table'), 'firewall', issues);
  if (table >= 253 && table <= 255) {
    issues.add('firewall.table', `must not be ${table}: 253-255 are the kernel's default, main and local tables`);
  }
  const bypassMark = readInt(obj, 'bypass_mark', 'firewall', MARK, markFromOutbounds(outbounds) ?? d.bypass_mark, issues);
  if ((fwmark & bypassMark) >>> 0 === bypassMark) {
    const where = obj.bypass_mark === undefined ? ' (taken from the first outbound with a mark)' : '';
    issues.add(
      'firewall.bypass_mark',
      `${hex(bypassMark)}${where} is contained in firewall.fwmark ${hex(fwmark)}: captured packets would count as Sluice's own and escape`,
    );
  }
  let interfaces: string[] = [];
  if (obj.interfaces !== undefined && obj.interfaces !== null) {
    if (Array.isArray(obj.interfaces) && obj.interfaces.length === 0) interfaces = [];
    else
      interfaces =
        readList<string>(obj.interfaces, 'firewall.interfaces', issues, (name, p) => {
          if (typeof name === 'string' && IFNAME.test(name) && name !== '.' && name !== '..') return name;
          issues.add(p, `must be an interface name (at most 15 characters, no spaces, '/', ':' or quotes; got ${show(name)})`);
          return undefined;
        }) ?? [];
  }
  let bypass: string[] = [...d.bypass_cidr];
  if (obj.bypass_cidr !== undefined && obj.bypass_cidr !== null) {
    bypass =
      Array.isArray(obj.bypass_cidr) && obj.bypass_cidr.length === 0
        ? []
        : (readCidrs(obj.bypass_cidr, 'firewall.bypass_cidr', issues) ?? bypass);
  }
  return {
    fwmark,
    table,
    bypass_mark: bypassMark,
    interfaces: [...new Set(interfaces)],
    bypass_cidr: bypass,
    local: readBoolField(obj, fieldOf(FIREWALL_FIELDS, 'local'), 'firewall', issues),
    offload: readBoolField(obj, fieldOf(FIREWALL_FIELDS, 'offload'), 'firewall', issues),
  };
}
