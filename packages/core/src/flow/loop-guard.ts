import * as os from 'node:os';
import type { Endpoint } from '../adapter/flow';
import { canonicalAddress } from '../config/net';

const WILDCARDS = new Set(['0.0.0.0', '::']);

/**
 * Recognises flows whose original destination is one of Sluice's own
 * listeners: relaying those would connect Sluice to itself without end.
 * Addresses are compared in one canonical form, so `::0`, `0:0:0:0:0:0:0:1`
 * or `::ffff:127.0.0.1` in the config cannot hide a listener.
 */
export class LoopGuard {
  private readonly byPort = new Map<number, string[]>();

  constructor(listeners: readonly Endpoint[]) {
    for (const l of listeners) {
      const list = this.byPort.get(l.port) ?? [];
      list.push(canonicalAddress(l.address));
      this.byPort.set(l.port, list);
    }
  }

  /** True when `dst` is a listener of ours. */
  isLoop(dst: Endpoint): boolean {
    const addresses = this.byPort.get(dst.port);
    if (!addresses) return false;
    const address = canonicalAddress(dst.address);
    for (const a of addresses) {
      if (a === address) return true;
      // Looked up only on a port match, which is rare, so the syscall is off the hot path.
      if (WILDCARDS.has(a) && localAddresses().has(address)) return true;
    }
    return false;
  }
}

function localAddresses(): Set<string> {
  const set = new Set<string>(['127.0.0.1', '::1']);
  for (const list of Object.values(os.networkInterfaces())) for (const i of list ?? []) set.add(canonicalAddress(i.address));
  return set;
}
