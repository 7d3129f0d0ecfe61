/**
 * Small servers and clients that run inside a topology's namespaces
 * (`node probe-main.js <command> [--flags]`), used by `sluice demo` and the
 * end-to-end tests. They print one JSON object per line on stdout
 * (`{"event": …}`), reporting what they saw on the wire: above all the peer
 * address, which is how a test tells the proxy's address from the client's.
 *
 * Commands:
 * - `http-server --host H --port P`: answers every request with JSON
 *   `{peer, peerPort, method, url, requestBytes}`; events `listening`, `closed`
 *   (with the `urls` requested and `bytesRead`/`bytesWritten` of the whole connection).
 * - `halfclose-server --host H --port P --reply-size N`: reads until the
 *   client's FIN, only then answers `received <n>\n` plus N pattern bytes and
 *   closes; events `listening`, `connection`, `eof`, `closed`.
 * - `udp-echo-server --host H --port P`: answers each datagram with JSON
 *   `{peer, peerPort, echo}`; events `listening`, `datagram`.
 * - `http-get --url U [--timeout-ms T]`: one request; event `result`.
 * - `udp-send --host H --port P [--message M] [--timeout-ms T]`: one datagram and
 *   its answer, which must come from H:P; event `result`.
 * - `free-port --host H [--network tcp|udp]`: event `result` with `port`.
 */
import * as dgram from 'node:dgram';
import * as http from 'node:http';
import * as net from 'node:net';
import { parseArgs } from 'node:util';
import { patternBytes } from './probe';

type Flags = Record<string, string | undefined>;

function emit(event: string, fields: object = {}): void {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

/** Kernel reports IPv4 peers of a dual-stack socket as `::ffff:a.b.c.d`; report what was on the wire. */
function unmap(address: string | undefined): string {
  return address?.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : (address ?? '');
}

function need(flags: Flags, name: string): string {
  const v = flags[name];
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}

function listenOpts(flags: Flags): { host: string; port: number; ipv6Only: boolean } {
  // ipv6Only false on "::" gives one dual-stack listener for both families.
  return { host: need(flags, 'host'), port: Number(flags.port ?? 0), ipv6Only: false };
}

function httpServer(flags: Flags): void {
  const urlsOf = new WeakMap<net.Socket, string[]>();
  const server = http.createServer((req, res) => {
    let requestBytes = 0;
    req.on('data', (d: Buffer) => (requestBytes += d.length));
    req.on('end', () => {
      const body = JSON.stringify({
        peer: unmap(req.socket.remoteAddress),
        peerPort: req.socket.remotePort,
        method: req.method,
        url: req.url,
        requestBytes,
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.on('request', (req: http.IncomingMessage) => urlsOf.get(req.socket)?.push(req.url ?? ''));
  server.on('connection', (sock: net.Socket) => {
    const peer = unmap(sock.remoteAddress);
    const peerPort = sock.remotePort;
    const urls: string[] = [];
    urlsOf.set(sock, urls);
    sock.once('close', () => {
      emit('closed', { peer, peerPort, urls, bytesRead: sock.bytesRead, bytesWritten: sock.bytesWritten });
    });
  });
  server.listen(listenOpts(flags), () => emit('listening', addressOf(server)));
}

function halfCloseServer(flags: Flags): void {
  const replySize = Number(flags['reply-size'] ?? 65536);
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    const peer = unmap(sock.remoteAddress);
    const peerPort = sock.remotePort;
    let received = 0;
    emit('connection', { peer, peerPort });
    sock.on('data', (d: Buffer) => (received += d.length));
    sock.on('end', () => {
      emit('eof', { peer, peerPort, received });
      sock.write(`received ${received}\n`);
      sock.end(patternBytes(replySize));
    });
    sock.on('error', (err) => emit('error', { peer, peerPort, message: err.message }));
    sock.once('close', () => emit('closed', { peer, peerPort, bytesRead: sock.bytesRead, bytesWritten: sock.bytesWritten }));
  });
  server.listen(listenOpts(flags), () => emit('listening', addressOf(server)));
}

function udpEchoServer(flags: Flags): void {
  const { host, port } = listenOpts(flags);
  const sock = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', ipv6Only: false });
  sock.on('message', (msg, rinfo) => {
    const peer = unmap(rinfo.address);
    emit('datagram', { peer, peerPort: rinfo.port, bytes: msg.length });
    sock.send(JSON.stringify({ peer, peerPort: rinfo.port, echo: msg.toString('utf8') }), rinfo.port, rinfo.address);
  });
  sock.bind(port, host, () => emit('listening', sock.address()));
}

function httpGet(flags: Flags): void {
  const timeoutMs = Number(flags['timeout-ms'] ?? 5000);
  const req = http.get(need(flags, 'url'), { agent: false, timeout: timeoutMs }, (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (d: Buffer) => chunks.push(d));
    res.on('end', () => {
      emit('result', {
        ok: true,
        status: res.statusCode,
        body: Buffer.concat(chunks).toString('utf8'),
        local: { address: unmap(res.socket.localAddress), port: res.socket.localPort },
      });
    });
  });
  req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
  req.on('error', (err: NodeJS.ErrnoException) => {
    emit('result', { ok: false, code: err.code, message: err.message });
    process.exitCode = 1;
  });
}

function udpSend(flags: Flags): void {
  const host = need(flags, 'host');
  const port = Number(need(flags, 'port'));
  const timeoutMs = Number(flags['timeout-ms'] ?? 3000);
  const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const timer = setTimeout(() => {
    emit('result', { ok: false, message: `no answer from ${host}:${port} within ${timeoutMs} ms` });
    process.exitCode = 1;
    sock.close();
  }, timeoutMs);
  sock.on('message', (msg, rinfo) => {
    clearTimeout(timer);
    const local = sock.address();
    emit('result', {
      ok: true,
      reply: msg.toString('utf8'),
      from: { address: unmap(rinfo.address), port: rinfo.port },
      local: { address: unmap(local.address), port: local.port },
    });
    sock.close();
  });
  sock.on('error', (err: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    emit('result', { ok: false, code: err.code, message: err.message });
    process.exitCode = 1;
    sock.close();
  });
  // Connected, like dig and DNS stubs: the kernel then drops any answer that
  // does not come from host:port, so a reply only counts if it came from the
  // original destination.
  sock.connect(port, host, () => sock.send(flags.message ?? 'ping'));
}

function freePort(flags: Flags): void {
  const host = need(flags, 'host');
  if (flags.network === 'udp') {
    const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    sock.bind(0, host, () => {
      emit('result', { ok: true, port: sock.address().port });
      sock.close();
    });
    return;
  }
  const server = net.createServer();
  server.listen(0, host, () => {
    emit('result', { ok: true, port: (server.address() as net.AddressInfo).port });
    server.close();
  });
}

function addressOf(server: net.Server): net.AddressInfo {
  return server.address() as net.AddressInfo;
}

const COMMANDS: Record<string, (flags: Flags) => void> = {
  'http-server': httpServer,
  'halfclose-server': halfCloseServer,
  'udp-echo-server': udpEchoServer,
  'http-get': httpGet,
  'udp-send': udpSend,
  'free-port': freePort,
};

function main(argv: string[]): void {
  const [command, ...rest] = argv;
  const run = command === undefined ? undefined : COMMANDS[command];
  if (!run) {
    process.stderr.write(`usage: probe-main <${Object.keys(COMMANDS).join('|')}> [--flag value…]\n`);
    process.exitCode = 2;
    return;
  }
  const names = ['host', 'port', 'url', 'message', 'timeout-ms', 'reply-size', 'network'];
  const { values } = parseArgs({
    args: rest,
    options: Object.fromEntries(names.map((n) => [n, { type: 'string' as const }])),
  });
  process.on('SIGTERM', () => process.exit(0));
  run(values as Flags);
}

if (require.main === module) main(process.argv.slice(2));
