import { ChildWatch, startProbe, type NamespaceRole, type ProbeProcess, type Topology } from '@sluice/testbed';

/** A server probe plus the port it bound. */
export interface ProbeServer {
  readonly probe: ProbeProcess;
  readonly port: number;
}

async function probeServer(topo: Topology, role: NamespaceRole, args: string[]): Promise<ProbeServer> {
  const probe = await startProbe(topo, role, args);
  const listening = probe.eventsNamed('listening')[0]!;
  return { probe, port: listening.port as number };
}

/**
 * HTTP server that answers with JSON naming the peer it saw; one dual-stack
 * listener on `::` serves both families. Emits `closed` with byte counts per connection.
 */
export function startHttpServer(topo: Topology, role: NamespaceRole = 'remote', port = 0): Promise<ProbeServer> {
  return probeServer(topo, role, ['http-server', '--host', '::', '--port', String(port)]);
}

/** TCP server that replies (`received N\n` + `replySize` pattern bytes) only after the client's FIN. */
export function startHalfCloseServer(topo: Topology, replySize: number, role: NamespaceRole = 'remote'): Promise<ProbeServer> {
  return probeServer(topo, role, ['halfclose-server', '--host', '::', '--port', '0', '--reply-size', String(replySize)]);
}

/** UDP server that answers each datagram with JSON naming the peer it saw. */
export function startUdpEchoServer(topo: Topology, role: NamespaceRole = 'remote', port = 0): Promise<ProbeServer> {
  return probeServer(topo, role, ['udp-echo-server', '--host', '::', '--port', String(port)]);
}

/** dnsmasq in the foreground, logging every query (with the asking address) to stderr. */
export class Dnsmasq extends ChildWatch {
  /** Query log lines such as `query[A] example.test from 198.19.2.1`. */
  queries(): string[] {
    return this.stderr.split('\n').filter((l) => /\bquery\[/.test(l));
  }
}

/**
 * Starts dnsmasq on port 53 of `addresses` in a namespace, answering
 * `example.test` with 192.0.2.7 / 2001:db8::7 and nothing else.
 */
export async function startDnsmasq(topo: Topology, addresses: readonly string[], role: NamespaceRole = 'remote'): Promise<Dnsmasq> {
  const args = [
    '--no-daemon',
    '--no-resolv',
    '--no-hosts',
    // Several suites may run dnsmasq at once; the default pid file is shared.
    '--pid-file=',
    ...addresses.map((a) => `--listen-address=${a}`),
    '--bind-interfaces',
    '--address=/example.test/192.0.2.7',
    '--address=/example.test/2001:db8::7',
    '--log-queries',
    '--log-facility=-',
  ];
  const d = new Dnsmasq(topo.spawn(role, 'dnsmasq', args), `dnsmasq in ${topo.names[role]}`);
  try {
    await d.waitUntil(() => (/started, version/.test(d.stderr) ? true : undefined), 5000, 'dnsmasq "started"');
  } catch (err) {
    await d.stop('SIGKILL');
    throw err;
  }
  return d;
}
