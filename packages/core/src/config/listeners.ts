import { availableParallelism } from 'node:os';
import type { InboundConfig } from './types';
import { canonicalAddress, isIPv4Mapped, isLinkLocalV6, isUnspecifiedAddress } from './net';
import { at, IssueList } from './reader';

/**
 * Listen addresses the kernel refuses to bind for a TPROXY inbound: an
 * IPv4-mapped one (IPv6 listeners are V6ONLY, so `::ffff:127.0.0.1` fails
 * with EINVAL) and a link-local one, which binds only with a zone that
 * `listen` does not take. Returns false after reporting one.
 */
export function checkListenAddress(listen: string, path: string, issues: IssueList): boolean {
  if (isIPv4Mapped(listen)) {
    issues.add(path, `${listen} is an IPv4-mapped address, which an IPv6 listener cannot bind (EINVAL); write ${canonicalAddress(listen)}`);
    return false;
  }
  if (isLinkLocalV6(listen)) {
    issues.add(
      path,
      `${listen} is link-local: it binds only with a zone (${listen}%eth0), which listen does not take (EINVAL without one); listen on :: or on a global or unique-local address`,
    );
    return false;
  }
  return true;
}

/** An inbound's listener on one network, for the overlap check. */
interface Listener {
  readonly path: string;
  readonly family: 4 | 6;
  readonly address: string;
  readonly wildcard: boolean;
  readonly reusePort: boolean;
}

/**
 * Two TCP listeners on one port whose addresses overlap (a wildcard and a
 * specific address of the same family: `0.0.0.0` and `127.0.0.1`, `::` and
 * `::1`) cannot both bind: Linux answers the second with EADDRINUSE unless
 * both set SO_REUSEPORT, which every listener of a multi-worker Sluice does.
 * Sluice's IPv6 listeners are V6ONLY, so `::` never overlaps an IPv4 address.
 * UDP is not checked: its sockets set SO_REUSEADDR, with which the kernel
 * binds both and hands each datagram to the most specific one. Identical
 * addresses are the duplicate check's (`is already used by`).
 */
export function checkListenerOverlaps(inbounds: readonly InboundConfig[], workers: number | 'auto', issues: IssueList): void {
  const pooled = (workers === 'auto' ? availableParallelism() : workers) > 1;
  const byPort = new Map<number, Listener[]>();
  inbounds.forEach((inbound, i) => {
    if (!inbound.network.includes('tcp')) return;
    const address = canonicalAddress(inbound.listen);
    const me: Listener = {
      path: at('inbounds', i),
      family: address.includes(':') ? 6 : 4,
      address,
      wildcard: isUnspecifiedAddress(address),
      reusePort: inbound.reuse_port || pooled,
    };
    const seen = byPort.get(inbound.port) ?? [];
    for (const other of seen) {
      if (other.family !== me.family || other.address === me.address || !(other.wildcard || me.wildcard)) continue;
      if (other.reusePort && me.reusePort) continue;
      issues.add(
        at(me.path, 'listen'),
        `tcp ${inbound.listen} port ${inbound.port} overlaps ${other.path} (${other.address} port ${inbound.port}): the kernel refuses the second listener (EADDRINUSE); keep only the wildcard one, or set reuse_port: true on both`,
      );
    }
    seen.push(me);
    byPort.set(inbound.port, seen);
  });
}
