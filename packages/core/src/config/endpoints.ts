import type { Network } from '../adapter/flow';
import type { InboundConfig, OutboundEntry } from './types';
import { DEFAULTS } from './defaults';
import { fieldOf, keysOf } from '../config-keys/field';
import { INBOUND_FIELDS } from '../config-keys/inbound';
import { canonicalAddress, isIpLiteral } from './net';
import { checkListenAddress } from './listeners';
import { at, isObj, IssueList, readBoolField, readInt, readIntField, readList, readObject, readString, show } from './reader';

const INBOUND_KEYS = keysOf(INBOUND_FIELDS);
/** Bounds of a TCP/UDP port. */
export const PORT = { min: 1, max: 65535 } as const;

/** Reads `network: tcp` or `network: [tcp, udp]` into a sorted list without duplicates. */
export function readNetworks(v: unknown, path: string, issues: IssueList): Network[] | undefined {
  const list = readList<Network>(v, path, issues, (item, p) => {
    if (item === 'tcp' || item === 'udp') return item;
    issues.add(p, `must be "tcp" or "udp" (got ${show(item)})`);
    return undefined;
  });
  return list && [...new Set(list)].sort();
}

/** Inbounds plus the tags seen, even on entries with other errors, for cross-references. */
export interface InboundsResult {
  readonly inbounds: InboundConfig[];
  readonly tags: Set<string>;
}

/** Reads and checks `inbounds`: strict entries, unique tags, IP literals, no two listeners on one socket, TCP only for `redirect`. */
export function readInbounds(v: unknown, issues: IssueList): InboundsResult {
  const inbounds: InboundConfig[] = [];
  const tags = new Set<string>();
  if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) {
    issues.add('inbounds', 'at least one inbound is required');
    return { inbounds, tags };
  }
  if (!Array.isArray(v)) {
    issues.add('inbounds', 'must be a list');
    return { inbounds, tags };
  }
  const owners = new Map<string, string>();
  v.forEach((entry, i) => {
    const path = at('inbounds', i);
    const obj = readObject(entry, path, INBOUND_KEYS, issues);
    if (!obj) return;
    const before = issues.length;
    const tag = readString(obj, 'tag', path, issues);
    if (tag !== undefined) {
      if (tags.has(tag)) issues.add(at(path, 'tag'), `duplicate tag "${tag}"`);
      tags.add(tag);
    }
    const type = obj.type === 'tproxy' || obj.type === 'redirect' ? obj.type : undefined;
    if (!type) issues.add(at(path, 'type'), `must be "tproxy" or "redirect" (got ${show(obj.type)})`);
    const listen = readString(obj, 'listen', path, issues);
    if (listen !== undefined && !isIpLiteral(listen)) {
      issues.add(at(path, 'listen'), `must be an IP literal such as 127.0.0.1 or ::1 (got ${show(listen)})`);
    } else if (listen !== undefined) {
      checkListenAddress(listen, at(path, 'listen'), issues);
    }
    if (obj.port === undefined) issues.add(at(path, 'port'), 'required');
    const port = readInt(obj, 'port', path, PORT, 0, issues);
    // nat REDIRECT keeps a TCP connection's original destination in conntrack; a datagram's is lost.
    const defaultNetwork: Network[] = type === 'redirect' ? ['tcp'] : [...DEFAULTS.network];
    const network = obj.network === undefined ? defaultNetwork : readNetworks(obj.network, at(path, 'network'), issues);
    if (type === 'redirect' && network?.includes('udp')) {
      issues.add(at(path, 'network'), 'a redirect inbound carries TCP only (nat redirect loses a datagram\'s original destination); use network: tcp, and a tproxy inbound for UDP');
    }
    const reusePort = readBoolField(obj, fieldOf(INBOUND_FIELDS, 'reuse_port'), path, issues);
    const sniff = readBoolField(obj, fieldOf(INBOUND_FIELDS, 'sniff'), path, issues);
    const sniffTimeoutMs = readIntField(obj, fieldOf(INBOUND_FIELDS, 'sniff_timeout_ms'), path, issues);
    const overrideDestination = readBoolField(obj, fieldOf(INBOUND_FIELDS, 'override_destination'), path, issues);
    if (issues.length !== before || !tag || !type || !listen || !network) return;
    // Two listeners on one address, port and protocol cannot both bind; `::0` and `::` are one address.
    for (const n of network) {
      const key = `${n} ${canonicalAddress(listen)} ${port}`;
      const owner = owners.get(key);
      if (owner) issues.add(at(path, 'port'), `${n} ${listen}:${port} is already used by ${owner}`);
      else owners.set(key, path);
    }
    inbounds.push({
      tag,
      type,
      listen,
      port,
      network,
      reuse_port: reusePort,
      sniff,
      sniff_timeout_ms: sniffTimeoutMs,
      override_destination: overrideDestination,
    });
  });
  return { inbounds, tags };
}

/** Outbounds plus every tag seen, for cross-references. */
export interface OutboundsResult {
  readonly outbounds: OutboundEntry[];
  readonly tags: Set<string>;
}

/**
 * Checks only `tag` and `type`: every other key belongs to the outbound type,
 * whose factory validates the whole entry (kept as `raw`) later.
 */
export function readOutbounds(v: unknown, issues: IssueList): OutboundsResult {
  const outbounds: OutboundEntry[] = [];
  const tags = new Set<string>();
  if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) {
    issues.add('outbounds', 'at least one outbound is required');
    return { outbounds, tags };
  }
  if (!Array.isArray(v)) {
    issues.add('outbounds', 'must be a list');
    return { outbounds, tags };
  }
  v.forEach((entry, i) => {
    const path = at('outbounds', i);
    if (!isObj(entry)) {
      issues.add(path, 'must be a mapping');
      return;
    }
    const tag = readString(entry, 'tag', path, issues);
    const type = readString(entry, 'type', path, issues);
    if (tag !== undefined) {
      if (tags.has(tag)) issues.add(at(path, 'tag'), `duplicate tag "${tag}"`);
      else if (type !== undefined) outbounds.push({ tag, type, raw: entry, path });
      tags.add(tag);
    }
  });
  return { outbounds, tags };
}
