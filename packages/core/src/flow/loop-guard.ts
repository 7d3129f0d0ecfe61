import * as os from 'node:os';
import type { Endpoint } from '../adapter/flow';
import { isWildcard } from '../util/endpoint';

/**
 * Recognises flows whose original destination is one of Sluice's own
 * listeners: relaying those would connect Sluice to itself without end.
 */
export class LoopGuard {
  private readonly byPort = new Map<number, string[]>();

  constructor(listeners: readonly Endpoint[]) {
    for (const l of listeners) {
      const list = this.byPort.get(l.port) ?? [];
      list.push(l.address);
      this.byPort.set(l.port, list);
    }
  }

  /** True when `dst` is a listener of ours. */
  isLoop(dst: Endpoint): boolean {
    const addresses = this.byPort.get(dst.port);
    if (!addresses) return false;
    for (const a of addresses) {
      if (a === dst.address) return true;
      // Looked up only on a port match, which is rare, so the syscall is off the hot path.
      if (isWildcard(a) && localAddresses().has(dst.address)) return true;
    }
    return false;
  }
}

function localAddresses(): Set<string> {
  const set = new Set<string>(['127.0.0.1', '::1']);
  for (const list of Object.values(os.networkInterfaces())) for (const i of list ?? []) set.add(i.address);
  return set;
}
