import { inboundFamilies } from '../families';
import { fail, ok } from '../result';
import type { DoctorCheck, CheckResult, DoctorContext } from '../types';

const SYSCTLS = {
  4: { file: '/proc/sys/net/ipv4/ip_forward', key: 'net.ipv4.ip_forward' },
  6: { file: '/proc/sys/net/ipv6/conf/all/forwarding', key: 'net.ipv6.conf.all.forwarding' },
} as const;

/**
 * Gateway mode: the host must route for its clients. TPROXY'd flows are
 * delivered locally and would work without forwarding, but everything Sluice
 * does not capture (bypassed destinations, ICMP, other protocols) would be
 * dropped, so the clients would see a half-working network.
 */
export const forwardingCheck: DoctorCheck = {
  id: 'forwarding',
  title: 'IP forwarding is on in gateway mode (IPv4, and IPv6 when an IPv6 inbound exists)',
  async run(ctx: DoctorContext): Promise<CheckResult> {
    if (ctx.config.firewall.local) return ok('local mode (firewall.local): forwarding not needed');
    const off: string[] = [];
    const seen: string[] = [];
    // IPv4 forwarding matters even with only an IPv6 inbound: bypassed IPv4 traffic must still pass.
    const families = new Set<4 | 6>([4, ...inboundFamilies(ctx.config)]);
    for (const f of families) {
      const { file, key } = SYSCTLS[f];
      const value = (await ctx.readFile(file))?.trim();
      seen.push(`${key}=${value ?? '?'}`);
      if (value !== '1') off.push(key);
    }
    if (off.length === 0) return ok(`gateway mode: ${seen.join(', ')}`);
    return fail(
      `gateway mode but ${off.map((k) => `${k} is not 1`).join(', ')}: traffic Sluice does not capture (bypassed destinations, ICMP) is dropped`,
      `sysctl -w ${off.map((k) => `${k}=1`).join(' ')}   (persist in /etc/sysctl.d/)`,
    );
  },
};
