import type { Namespace } from './namespace';

/** One TPROXY redirect of {@link addLocalTproxy}: packets to `dport` go to the transparent socket on `port`. */
export interface LocalTproxyRule {
  readonly proto: 'tcp' | 'udp';
  readonly dport: number;
  readonly port: number;
}

/**
 * Gives a lone namespace a veth pair (`v0` up with 10.200.0.1/24 and
 * 2001:db8:1::1/64, `v1` its peer) and default routes through `v0`, so
 * locally generated packets to foreign addresses have a first route before
 * the firewall re-routes them.
 */
export async function addUplink(ns: Namespace): Promise<void> {
  await ns.sh(`
    ip link add v0 type veth peer name v1
    ip link set v1 up
    ip link set v0 up
    ip addr add 10.200.0.1/24 dev v0
    ip -6 addr add 2001:db8:1::1/64 dev v0 nodad
    ip route add default dev v0
    ip -6 route add default dev v0
  `);
}

/**
 * Local-host TPROXY (as `sluice rules` renders it for local-host mode): the
 * output route chain marks matching packets 1, policy routing sends mark 1 to
 * `lo`, and prerouting hands them to the transparent socket on `port`. The
 * chain ends with a drop, so a missing listener fails closed.
 */
export async function addLocalTproxy(ns: Namespace, rules: readonly LocalTproxyRule[]): Promise<void> {
  await ns.sh(`
    ip rule add fwmark 1 lookup 100
    ip route add local default dev lo table 100
    ip -6 rule add fwmark 1 lookup 100
    ip -6 route add local default dev lo table 100
  `);
  const marks = rules.map((r) => `    meta l4proto ${r.proto} ${r.proto} dport ${r.dport} meta mark set 1`).join('\n');
  const tproxies = rules
    .map((r) => `    meta mark 1 meta l4proto ${r.proto} ${r.proto} dport ${r.dport} tproxy to :${r.port} accept`)
    .join('\n');
  await ns.nft(`
table inet sluice_test {
  chain output {
    type route hook output priority mangle; policy accept;
${marks}
  }
  chain prerouting {
    type filter hook prerouting priority mangle; policy accept;
${tproxies}
    meta mark 1 drop
  }
}
`);
}
