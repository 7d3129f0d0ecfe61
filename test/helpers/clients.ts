import type { CommandResult, NamespaceRole, Topology } from '@sluice/testbed';

/** What a curl run produced. */
export interface CurlResult {
  /** curl's exit status: 0 ok, 7 connect failed, 28 timeout, 52 empty reply, 56 receive failure (reset)… */
  readonly exitCode: number | null;
  readonly body: string;
  readonly httpCode: number;
  /** The client's own address and port of the connection, as curl saw them. */
  readonly localIp: string;
  readonly localPort: number;
  readonly stderr: string;
  readonly ms: number;
}

const MARK = '\n@@curl ';

/** Runs curl in a namespace (default: the client) with a total time limit of `maxTimeS` seconds. */
export async function curl(topo: Topology, url: string, maxTimeS = 5, role: NamespaceRole = 'client'): Promise<CurlResult> {
  const r = await topo.exec(
    role,
    'curl',
    // -g: IPv6 literals in brackets are addresses, not globs.
    ['-g', '-sS', '--noproxy', '*', '-m', String(maxTimeS), '-w', `${MARK}%{local_ip} %{local_port} %{http_code}`, url],
    { allowFailure: true, timeoutMs: (maxTimeS + 5) * 1000 },
  );
  const at = r.stdout.lastIndexOf(MARK);
  const [localIp = '', localPort = '0', httpCode = '0'] = at >= 0 ? r.stdout.slice(at + MARK.length).trim().split(' ') : [];
  return {
    exitCode: r.code,
    body: at >= 0 ? r.stdout.slice(0, at) : r.stdout,
    httpCode: Number(httpCode),
    localIp,
    localPort: Number(localPort),
    stderr: r.stderr,
    ms: r.durationMs,
  };
}

/** Renders a curl result for assertion messages. */
export function describeCurl(r: CurlResult): string {
  return `curl exit ${r.exitCode} after ${r.ms} ms, http ${r.httpCode}, stderr: ${r.stderr.trim() || '(none)'}, body: ${r.body.slice(0, 300)}`;
}

/**
 * `dig` over UDP from the client, one try, sending from `source` (`addr#port`)
 * so the flow is recognisable in the access log; `+short` answer lines in `answers`.
 */
export async function dig(
  topo: Topology,
  server: string,
  name: string,
  type: 'A' | 'AAAA',
  source: string,
): Promise<CommandResult & { answers: string[] }> {
  const args = ['-b', source, '+short', '+time=3', '+tries=1', '+notcp', `@${server}`, name, type];
  const r = await topo.exec('client', 'dig', args, {
    allowFailure: true,
    timeoutMs: 10_000,
  });
  return { ...r, answers: r.stdout.split('\n').map((l) => l.trim()).filter(Boolean) };
}

/**
 * socat from the client: sends `request`, then EOF (socat shuts down its write
 * side when stdin ends), and keeps reading the answer for up to 5 s (`-t 5`).
 */
export function socatHalfClose(topo: Topology, host: string, port: number, request: string): Promise<CommandResult> {
  const target = host.includes(':') ? `TCP6:[${host}]:${port}` : `TCP4:${host}:${port}`;
  return topo.exec('client', 'socat', ['-t', '5', '-', target], { input: request, allowFailure: true, timeoutMs: 15_000 });
}
