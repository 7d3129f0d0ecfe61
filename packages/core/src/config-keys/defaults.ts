/** Defaults filled in by the config loader; documented in docs/config.md. */
export const DEFAULTS = {
  logLevel: 'info',
  network: ['tcp', 'udp'] as const,
  timeouts: { connect_ms: 10_000, tcp_idle_ms: 300_000, udp_idle_ms: 60_000, drain_ms: 5_000 },
  udp: { max_sessions: 10_000 },
  limits: { max_tcp_flows: 'auto' as const },
  route: { hook_timeout_ms: 1000 },
  inbound: { sniff: false, sniff_timeout_ms: 300, override_destination: false },
  firewall: {
    fwmark: 0x1,
    table: 100,
    /** Used when no outbound sets a numeric `mark`. */
    bypass_mark: 0x2,
    /** Reserved, loopback, link-local and multicast ranges: never proxied. */
    bypass_cidr: [
      '0.0.0.0/8',
      '127.0.0.0/8',
      '169.254.0.0/16',
      '224.0.0.0/4',
      '240.0.0.0/4',
      '::1/128',
      'fe80::/10',
      'ff00::/8',
    ],
  },
} as const;

/** pino level names accepted by `log.level`. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Largest delay `setTimeout` honours; longer values fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;
