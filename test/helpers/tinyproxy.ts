import { ChildWatch, type NamespaceRole, type Topology } from '@sluice/testbed';
import { waitTcpListening } from './socks-servers';
import { writeFile } from './sluice';

/*
 * Debian's tinyproxy as a real HTTP CONNECT proxy inside a topology's
 * namespace. It runs in the foreground (`-d`) and, with no LogFile and no
 * Syslog, logs to stdout, one line per event. Started through `topo.spawn`,
 * so `topo.destroy()` kills it on every path.
 */

/** Options for {@link tinyproxyConfig}. */
export interface TinyproxyOptions {
  readonly listen: string;
  readonly port: number;
  /** `ConnectPort` lines: the only destination ports CONNECT may reach; anything else is answered 403. */
  readonly connectPorts: readonly number[];
  /** `BasicAuth`: without it, no authentication. */
  readonly basicAuth?: { readonly user: string; readonly password: string };
}

/** A tinyproxy config that logs each client and request (`LogLevel Info`) and adds no Via header. */
export function tinyproxyConfig(o: TinyproxyOptions, pidFile: string): string {
  const lines = [
    `Port ${o.port}`,
    `Listen ${o.listen}`,
    'Timeout 30',
    'MaxClients 100',
    'LogLevel Info',
    `PidFile "${pidFile}"`,
    'DisableViaHeader Yes',
    ...o.connectPorts.map((p) => `ConnectPort ${p}`),
  ];
  if (o.basicAuth) lines.push(`BasicAuth ${o.basicAuth.user} ${o.basicAuth.password}`);
  return `${lines.join('\n')}\n`;
}

/** tinyproxy in a namespace; its stdout is its log. */
export class Tinyproxy extends ChildWatch {
  /** Its log lines, as text. */
  log(): string[] {
    return this.lines.map((l) => (typeof l.text === 'string' ? l.text : JSON.stringify(l)));
  }

  /** Waits for a log line matching `re`. */
  logged(re: RegExp, what: string, timeoutMs = 5000): Promise<string> {
    return this.waitUntil(() => this.log().find((l) => re.test(l)), timeoutMs, `tinyproxy's log: ${what}`);
  }
}

/** Starts tinyproxy with `o` in a namespace (default the remote) and waits until it listens. */
export async function startTinyproxy(topo: Topology, dir: string, name: string, o: TinyproxyOptions, role: NamespaceRole = 'remote'): Promise<Tinyproxy> {
  const file = writeFile(dir, `${name}.conf`, tinyproxyConfig(o, `${dir}/${name}.pid`));
  const t = new Tinyproxy(topo.spawn(role, 'tinyproxy', ['-d', '-c', file]), `tinyproxy ${name} in ${topo.names[role]}`);
  try {
    await waitTcpListening(topo, role, o.port, t);
  } catch (err) {
    await t.stop('SIGKILL');
    throw err;
  }
  return t;
}
