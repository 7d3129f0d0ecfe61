import { spawnSync } from 'node:child_process';
import { run, runOk } from './process';
import { runScenario } from './scenario-client';

const live = new Set<string>();

// Last resort if a suite dies between create() and destroy(): never leave a
// namespace behind. (after()/finally remain the normal path.)
process.on('exit', () => {
  for (const name of live) spawnSync('ip', ['netns', 'delete', name]);
});

let serial = 0;

/**
 * A throwaway network namespace named `snat-<pid>-<tag>`, with `lo` up. All
 * test traffic and firewall rules live inside it; the host is never touched.
 */
export class Netns {
  private constructor(readonly name: string) {}

  static async create(tag: string): Promise<Netns> {
    const name = `snat-${process.pid}-${tag}${++serial}`;
    await runOk('ip', ['netns', 'add', name]);
    live.add(name);
    const ns = new Netns(name);
    try {
      await ns.sh('ip link set lo up');
    } catch (err) {
      await ns.destroy();
      throw err;
    }
    return ns;
  }

  /** The command prefix that runs something inside the namespace. */
  get prefix(): string[] {
    return ['ip', 'netns', 'exec', this.name];
  }

  /** Runs a shell script inside the namespace (`sh -e`). */
  sh(script: string): Promise<string> {
    return runOk('ip', ['netns', 'exec', this.name, 'sh', '-ec', script]);
  }

  /** Loads an nft ruleset inside the namespace. */
  nft(ruleset: string): Promise<string> {
    return runOk('ip', ['netns', 'exec', this.name, 'nft', '-f', '-'], ruleset);
  }

  /** Packets counted so far by the named nft counter object. */
  async counter(family: string, table: string, name: string): Promise<number> {
    const json = await runOk('ip', ['netns', 'exec', this.name, 'nft', '-j', 'list', 'counter', family, table, name]);
    const entry = (JSON.parse(json) as { nftables: Array<{ counter?: { packets: number } }> }).nftables.find((e) => e.counter);
    if (entry?.counter === undefined) throw new Error(`no counter ${family} ${table} ${name}`);
    return entry.counter.packets;
  }

  /** Runs a scenario of `scenarios.ts` in a child node inside the namespace. */
  scenario<T>(name: string, args: unknown = {}): Promise<T> {
    return runScenario<T>(this.prefix, name, args);
  }

  async destroy(): Promise<void> {
    if (!live.has(this.name)) return;
    const result = await run('ip', ['netns', 'delete', this.name]);
    if (result.code !== 0) throw new Error(`ip netns delete ${this.name}: ${result.stderr}`);
    live.delete(this.name);
  }
}

/**
 * Gives the namespace a veth pair (`v0` up with 10.200.0.1/24 and
 * 2001:db8:1::1/64, `v1` its peer) and default routes through `v0`, so
 * locally generated packets to foreign addresses have a first route before
 * the firewall re-routes them.
 */
export async function addUplink(ns: Netns): Promise<void> {
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
export async function addTproxy(ns: Netns, rules: { proto: 'tcp' | 'udp'; dport: number; port: number }[]): Promise<void> {
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
