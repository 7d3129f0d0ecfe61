import { fail, ok } from '../result';
import type { DoctorCheck } from '../types';

const CAP_NET_ADMIN = 12n;

/** The effective capabilities of this process, from `CapEff:` in /proc/self/status. */
export function effectiveCapabilities(status: string): bigint | undefined {
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  return m ? BigInt(`0x${m[1]}`) : undefined;
}

/** `CAP_NET_ADMIN`: transparent sockets (IP_TRANSPARENT) and `SO_MARK` need it. */
export const capNetAdminCheck: DoctorCheck = {
  id: 'cap-net-admin',
  title: 'this process has CAP_NET_ADMIN (IP_TRANSPARENT, SO_MARK)',
  async run(ctx) {
    const caps = effectiveCapabilities((await ctx.readFile('/proc/self/status')) ?? '');
    if (caps === undefined) return fail('cannot read CapEff from /proc/self/status');
    if ((caps >> CAP_NET_ADMIN) & 1n) return ok('CAP_NET_ADMIN is effective');
    return fail(
      'CAP_NET_ADMIN is missing: the transparent listeners and SO_MARK will fail with EPERM',
      'run as root, or with AmbientCapabilities=CAP_NET_ADMIN in the systemd unit, or: setcap cap_net_admin+ep "$(readlink -f "$(which node)")"',
    );
  },
};
