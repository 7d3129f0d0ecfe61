import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { ChildWatch, SluiceProcess, TOPOLOGY_ADDRESSES as A, type JsonLine } from '@sluice/testbed';
import { useE2E } from '../helpers/env';
import { startHttpServer, type ProbeServer } from '../helpers/servers';

const GATEWAY = path.join(__dirname, '../helpers/sniff-gateway.js');
const TLS_PORT = 8443;
const BANNER_PORT = 2525;
// Long enough that a flow routed with a name was routed on the sniffer's answer, not on the timeout.
const SNIFF_TIMEOUT_MS = 1500;

/** A TLS client whose ClientHello goes out re-framed into two records and written in three TCP segments with pauses. */
const SPLIT_HELLO_CLIENT = `
import socket, ssl, sys, time
host, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(inc, out, server_hostname=name)
s = socket.create_connection((host, port), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
first = out.read()
n = int.from_bytes(first[3:5], 'big')
body, rest = first[5:5 + n], first[5 + n:]
records = b''.join(first[0:3] + len(p).to_bytes(2, 'big') + p for p in (body[:40], body[40:]))
for a, b in ((0, 3), (3, 60), (60, len(records))):
    s.sendall(records[a:b])
    time.sleep(0.15)
s.sendall(rest)
def pump():
    d = out.read()
    if d:
        s.sendall(d)
    data = s.recv(65536)
    if not data:
        sys.exit('EOF from the server')
    inc.write(data)
while True:
    try:
        tls.do_handshake()
        break
    except ssl.SSLWantReadError:
        pump()
tls.write(b'GET / HTTP/1.0\\r\\n\\r\\n')
reply = b''
while b'\\r\\n' not in reply:
    try:
        reply += tls.read(65536)
    except ssl.SSLWantReadError:
        pump()
print(reply.split(b'\\r\\n')[0].decode())
`;

/** A server-first protocol: the server greets first, then answers one line. */
const BANNER_SERVER = `
import socket
srv = socket.create_server(('0.0.0.0', ${BANNER_PORT}))
print('listening', flush=True)
while True:
    c, _ = srv.accept()
    c.sendall(b'220 banner ready\\r\\n')
    line = c.recv(100)
    c.sendall(b'bye ' + line)
    c.close()
`;

const BANNER_CLIENT = `
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
banner = s.recv(100)
s.sendall(b'QUIT\\r\\n')
print(repr(banner), repr(s.recv(100)))
`;

describe('e2e: TCP sniffing (TLS SNI, HTTP Host) with a routing hook on the name', function () {
  const env = useE2E({ tag: 'snft', sluice: false });
  let http: ProbeServer;
  let gw: SluiceProcess;

  before(async function () {
    this.timeout(60_000);
    http = await startHttpServer(env.topo);
    const cert = path.join(env.tmp, 'cert.pem');
    const key = path.join(env.tmp, 'key.pem');
    await env.topo.exec('remote', 'openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=sniff.test']);
    // Both servers are killed with the topology.
    const tls = new ChildWatch(env.topo.spawn('remote', 'openssl', ['s_server', '-accept', String(TLS_PORT), '-cert', cert, '-key', key, '-www']), 'openssl s_server');
    await tls.waitFor((l) => l.text === 'ACCEPT', 10_000, 'ACCEPT');
    const banner = new ChildWatch(env.topo.spawn('remote', 'python3', ['-u', '-c', BANNER_SERVER]), 'banner server');
    await banner.waitFor((l) => l.text === 'listening', 10_000, 'listening');
    gw = new SluiceProcess(env.topo.spawn('gw', process.execPath, [GATEWAY, String(SNIFF_TIMEOUT_MS), 'blocked.example']), 'sniff gateway');
    await gw.waitForStarted();
  });
  after(async function () {
    await gw?.stop('SIGTERM');
  });

  const routedTo = (dst: string, what: string): Promise<JsonLine> => gw.waitFor((l) => l.msg === 'routed' && l.dst === dst && (what === '' || l.host === what), 10_000, `flow event to ${dst} ${what}`);

  /** curl in the client with extra arguments; resolves with its exit code and output. */
  async function curlWith(args: readonly string[]): Promise<{ code: number | null; out: string }> {
    const r = await env.topo.exec('client', 'curl', ['-sS', '--noproxy', '*', '-m', '8', ...args], { allowFailure: true, timeoutMs: 15_000 });
    return { code: r.code, out: `${r.stdout}\n${r.stderr}` };
  }

  it('openssl s_server by an allowed name: routed on the SNI at once, and the access log has host and sniffed', async function () {
    const r = await curlWith(['-k', '--resolve', `allowed.example:${TLS_PORT}:${A.remote.v4}`, `https://allowed.example:${TLS_PORT}/`]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /s_server/);
    const dst = `${A.remote.v4}:${TLS_PORT}`;
    const routed = await routedTo(dst, 'allowed.example');
    assert.deepEqual([routed.sniffed, routed.outbound], ['tls', 'direct']);
    const line = await gw.waitForFlow((l) => l.flowId === routed.id, 10_000, 'its access-log line');
    assert.deepEqual([line.host, line.sniffed, line.dst, line.error], ['allowed.example', 'tls', dst, undefined]);
  });

  it('openssl s_server by a blocked name: the hook sees the SNI and the connection is reset', async function () {
    const r = await curlWith(['-k', '--resolve', `blocked.example:${TLS_PORT}:${A.remote.v4}`, `https://blocked.example:${TLS_PORT}/`]);
    assert.notEqual(r.code, 0, r.out);
    const routed = await routedTo(`${A.remote.v4}:${TLS_PORT}`, 'blocked.example');
    assert.deepEqual([routed.rule, routed.outbound, routed.sniffed], ['hook', 'deny', 'tls']);
  });

  it('HTTP Host allowed and blocked', async function () {
    const dst = `${A.remote.v4}:${http.port}`;
    const ok = await curlWith(['-H', 'Host: www.allowed.example:8080', `http://${dst}/ok`]);
    assert.equal(ok.code, 0, ok.out);
    const routed = await routedTo(dst, 'www.allowed.example');
    assert.deepEqual([routed.sniffed, routed.outbound], ['http', 'direct']);
    const line = await gw.waitForFlow((l) => l.flowId === routed.id, 10_000, 'its access-log line');
    assert.deepEqual([line.host, line.sniffed], ['www.allowed.example', 'http']);

    const blocked = await curlWith(['-H', 'Host: blocked.example', `http://${dst}/no`]);
    assert.notEqual(blocked.code, 0, blocked.out);
    const denied = await routedTo(dst, 'blocked.example');
    assert.deepEqual([denied.outbound, denied.sniffed], ['deny', 'http']);
  });

  it('a ClientHello split over records and TCP segments: routed on its name, and the handshake completes', async function () {
    const r = await env.topo.exec('client', 'python3', ['-c', SPLIT_HELLO_CLIENT, A.remote.v4, String(TLS_PORT), 'split.example'], { allowFailure: true, timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HTTP\/1\.0 200/, r.stdout);
    const routed = await routedTo(`${A.remote.v4}:${TLS_PORT}`, 'split.example');
    assert.equal(routed.sniffed, 'tls');
  });

  it('a server-first protocol: routed without a name when the timeout passes, and the banner reaches the client', async function () {
    const r = await env.topo.exec('client', 'python3', ['-c', BANNER_CLIENT, A.remote.v4, String(BANNER_PORT)], { allowFailure: true, timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `b'220 banner ready\\r\\n' b'bye QUIT\\r\\n'`);
    const routed = await routedTo(`${A.remote.v4}:${BANNER_PORT}`, '');
    assert.equal(routed.host, undefined);
    assert.equal(routed.outbound, 'direct');
  });
});
