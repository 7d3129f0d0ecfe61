import type { SluiceConfig } from '../config/types';

/** Where `sluice install-service` writes the unit. */
export const SERVICE_UNIT_PATH = '/etc/systemd/system/sluice.service';

/** What {@link renderServiceUnit} needs: which config, how to run `sluice`, and which capabilities. */
export interface ServiceUnitOptions {
  /** Absolute path of the config file. */
  readonly configPath: string;
  /** The command that runs `sluice`, absolute paths: `['/usr/bin/node', '/…/bin/sluice.js']` or `['/usr/local/bin/sluice']`. */
  readonly sluice: readonly string[];
  /** Add `CAP_NET_BIND_SERVICE`: a listener needs a port below 1024. */
  readonly bindLowPorts: boolean;
}

/** The open-file limit the unit sets: systemd raises it before dropping privileges, which Sluice itself cannot. */
export const SERVICE_FILE_LIMIT = 1048576;

/** True when a listener of `config` needs `CAP_NET_BIND_SERVICE` (a port below 1024). */
export function needsLowPorts(config: Pick<SluiceConfig, 'inbounds'>): boolean {
  return config.inbounds.some((i) => i.port > 0 && i.port < 1024);
}

/** Quotes one argument for a unit's Exec line when systemd would otherwise split or expand it. */
function quoteArg(arg: string): string {
  // `%` starts a specifier and `$` a variable in Exec lines: both are doubled to stay literal.
  const literal = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /^[\w@+=:,./-]+$/.test(arg) ? literal : `"${literal.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * Renders `sluice.service`: Sluice as a dynamic unprivileged user with only
 * the capabilities it needs, the firewall applied before start and removed
 * after stop (those two run with full privileges, `+`), readiness by
 * `sd_notify` (`Type=notify`; `NotifyAccess=all` because `systemd-notify`, a
 * child, sends it), reload by SIGHUP, restart on failure.
 */
export function renderServiceUnit(opts: ServiceUnitOptions): string {
  const sluice = opts.sluice.map(quoteArg).join(' ');
  const config = quoteArg(opts.configPath);
  const caps = opts.bindLowPorts ? 'CAP_NET_ADMIN CAP_NET_BIND_SERVICE' : 'CAP_NET_ADMIN';
  return `# Sluice as a systemd service for ${opts.configPath}, as \`sluice install-service\` renders it.
# For another config or install path: sluice install-service -c FILE [--print]
#   (or copy to ${SERVICE_UNIT_PATH}, then: systemctl daemon-reload && systemctl enable --now sluice).
# Sluice and its config must be readable by an unprivileged user (not under /root).
[Unit]
Description=Sluice transparent proxy (TPROXY)
Wants=network-online.target
After=network-online.target

[Service]
Type=notify
NotifyAccess=all
ExecStartPre=+${sluice} rules -c ${config} --apply
ExecStart=${sluice} run -c ${config}
ExecReload=/bin/kill -HUP $MAINPID
ExecStopPost=-+${sluice} rules -c ${config} --remove
Restart=on-failure
RestartSec=2s
DynamicUser=yes
StateDirectory=sluice
AmbientCapabilities=${caps}
CapabilityBoundingSet=${caps}
NoNewPrivileges=yes
LimitNOFILE=${SERVICE_FILE_LIMIT}

[Install]
WantedBy=multi-user.target
`;
}
