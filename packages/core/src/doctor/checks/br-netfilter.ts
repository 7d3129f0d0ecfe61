import { ok, warn } from '../result';
import type { DoctorCheck, CheckResult } from '../types';

/**
 * With `br_netfilter` loaded and `bridge-nf-call-iptables=1`, frames bridged
 * between ports of a Linux bridge (Docker's `docker0`, `br-*`) pass the IPv4
 * hooks too: container-to-container traffic meets Sluice's prerouting chain
 * (and is captured), and routed traffic of a bridge can pass it twice. Only
 * worth a warning when a bridge exists.
 */
export const brNetfilterCheck: DoctorCheck = {
  id: 'br-netfilter',
  title: 'bridged traffic does not pass the IP hooks (br_netfilter, bridge-nf-call-iptables)',
  async run(ctx): Promise<CheckResult> {
    const value = (await ctx.readFile('/proc/sys/net/bridge/bridge-nf-call-iptables'))?.trim();
    if (value === undefined) return ok('br_netfilter not loaded');
    if (value !== '1') return ok(`br_netfilter loaded, bridge-nf-call-iptables=${value}`);
    const bridges: string[] = [];
    for (const name of await ctx.listDir('/sys/class/net')) if ((await ctx.listDir(`/sys/class/net/${name}/bridge`)).length > 0) bridges.push(name);
    if (bridges.length === 0) return ok('bridge-nf-call-iptables=1, but no bridge here');
    return warn(
      `bridge-nf-call-iptables=1 with bridge ${bridges.join(', ')}: bridged traffic (Docker containers talking to each other) passes Sluice's prerouting chain and is captured, or passes it twice`,
      `list only your LAN interfaces in firewall.interfaces, or sysctl -w net.bridge.bridge-nf-call-iptables=0 when nothing needs it (Docker's published ports do)`,
    );
  },
};
