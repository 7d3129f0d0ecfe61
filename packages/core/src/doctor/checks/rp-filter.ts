import { captureInterfaces } from '../interfaces';
import { ok, warn } from '../result';
import type { DoctorCheck } from '../types';

const STRICT = 1;

/**
 * Strict reverse-path filtering (`rp_filter=1`) on a capture interface drops
 * packets whose source the routing table would not reach through the same
 * interface; with TPROXY's policy routing (and local mode's detour through
 * `lo`) that hits captured packets and their replies. The kernel applies
 * max(all, interface), so `all` is read too.
 */
export const rpFilterCheck: DoctorCheck = {
  id: 'rp-filter',
  title: 'no strict rp_filter on the capture interfaces',
  async run(ctx) {
    const read = async (name: string): Promise<number> => Number((await ctx.readFile(`/proc/sys/net/ipv4/conf/${name}/rp_filter`))?.trim() ?? 0);
    const all = await read('all');
    const names = await captureInterfaces(ctx);
    if (names.length === 0) return ok('no capture interface present');
    const strict: string[] = [];
    for (const n of names) if (Math.max(all, await read(n)) === STRICT) strict.push(n);
    if (strict.length === 0) return ok(`rp_filter not strict on ${names.join(', ')}`);
    // max(all, iface): raising `all` to 2 makes every interface loose at once.
    const keys = all === STRICT ? ['all'] : strict;
    return warn(
      `strict rp_filter (1) on ${strict.join(', ')}${all === STRICT ? ' (net.ipv4.conf.all.rp_filter=1)' : ''}: TPROXY'd packets and their replies can be dropped`,
      `sysctl -w ${keys.map((k) => `net.ipv4.conf.${k}.rp_filter=2`).join(' ')}   (2 = loose; persist in /etc/sysctl.d/)`,
    );
  },
};
