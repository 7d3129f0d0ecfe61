/** Optional changes to {@link demoConfig}. */
export interface DemoConfigOptions {
  readonly udpIdleMs?: number;
  readonly drainMs?: number;
  readonly port4?: number;
  readonly port6?: number;
}

/**
 * The demo's config, which is also the end-to-end tests' contract config: two
 * TPROXY inbounds on loopback, direct with mark 0x2, a block rule for
 * 203.0.113.0/24, and a short UDP idle timeout so UDP flows close (and are
 * logged) quickly.
 */
export function demoConfig(x: DemoConfigOptions = {}): string {
  return `log: { level: info }
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: ${x.port4 ?? 15001}, network: [tcp, udp] }
  - { tag: in6, type: tproxy, listen: "::1", port: ${x.port6 ?? 15002}, network: [tcp, udp] }
outbounds:
  - { tag: direct, type: direct, mark: 0x2 }
  - { tag: deny, type: block }
route:
  rules:
    - { dst_cidr: [203.0.113.0/24], outbound: deny }
  final: direct
timeouts: { udp_idle_ms: ${x.udpIdleMs ?? 1000}, drain_ms: ${x.drainMs ?? 1000} }
`;
}

