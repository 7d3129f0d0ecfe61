import * as assert from 'node:assert/strict';
import { formatEndpoint, patternBytes, TOPOLOGY_ADDRESSES as A } from '@sluice/testbed';
import { curl, describeCurl, socatHalfClose } from '../helpers/clients';
import { useE2E } from '../helpers/env';
import { startHalfCloseServer, startHttpServer, type ProbeServer } from '../helpers/servers';
import { describeFlows, installMarkCounter, readMarkCounter } from '../helpers/sluice';

const FAMILIES = [
  { family: 'IPv4', client: A.client.v4, remote: A.remote.v4, gw: A.gwWan.v4, inbound: 'in4' },
  { family: 'IPv6', client: A.client.v6, remote: A.remote.v6, gw: A.gwWan.v6, inbound: 'in6' },
] as const;

const url = (host: string, port: number, path = '/'): string => `http://${formatEndpoint(host, port)}${path}`;

describe('e2e: TCP through Sluice', function () {
  const env = useE2E({ tag: 'tcp' });
  let http: ProbeServer;
  let halfClose: ProbeServer;
  const REPLY_SIZE = 256 * 1024;

  before(async function () {
    http = await startHttpServer(env.topo);
    halfClose = await startHalfCloseServer(env.topo, REPLY_SIZE);
    await installMarkCounter(env.topo, 0x2);
  });

  for (const f of FAMILIES) {
    it(`${f.family}: HTTP arrives, the remote sees the gateway, and the access log has the flow`, async function () {
      const path = `/hello-${f.family}`;
      const r = await curl(env.topo, url(f.remote, http.port, path));
      assert.equal(r.exitCode, 0, describeCurl(r));
      assert.equal(r.httpCode, 200, describeCurl(r));
      const body = JSON.parse(r.body) as { peer: string; url: string };
      assert.equal(body.url, path);
      assert.equal(body.peer, f.gw, `remote saw ${body.peer}, not the gateway`);
      assert.equal(r.localIp, f.client);

      const src = formatEndpoint(f.client, r.localPort);
      const dst = formatEndpoint(f.remote, http.port);
      // The server's own byte counts for its side of the connection are the truth to compare with.
      const closed = await http.probe.waitForEvent('closed', (e) => (e.urls as string[]).includes(path), 5000);
      const flow = await env.sluice!.waitForFlow((l) => l.src === src, 5000, `src ${src}`);
      assert.deepEqual(
        { network: flow.network, src: flow.src, dst: flow.dst, inbound: flow.inbound, rule: flow.rule, outbound: flow.outbound },
        { network: 'tcp', src, dst, inbound: f.inbound, rule: 'final', outbound: 'direct' },
      );
      assert.equal(flow.up, closed.bytesRead, `up should be what the remote received; ${JSON.stringify(closed)}`);
      assert.equal(flow.down, closed.bytesWritten, `down should be what the remote sent; ${JSON.stringify(closed)}`);
      assert.equal(typeof flow.durationMs, 'number');
      assert.equal(flow.error, undefined, `unexpected error in ${JSON.stringify(flow)}`);
    });

    it(`${f.family}: half-close — the client's FIN reaches the remote, and the reply that follows it arrives whole`, async function () {
      const request = `request over ${f.family}\n`.repeat(100);
      const r = await socatHalfClose(env.topo, f.remote, halfClose.port, request);
      assert.equal(r.code, 0, `socat: ${r.stderr}`);
      const header = `received ${request.length}\n`;
      assert.equal(r.stdout.slice(0, header.length), header, 'the remote did not see the whole request before EOF');
      assert.equal(r.stdout.length, header.length + REPLY_SIZE, 'reply length');
      assert.ok(r.stdout.slice(header.length) === patternBytes(REPLY_SIZE).toString('latin1'), 'reply content differs');
      await halfClose.probe.waitForEvent('eof', (e) => e.peer === f.gw && e.received === request.length);
      assert.equal(halfClose.probe.eventsNamed('eof').filter((e) => e.peer === f.gw).length, 1);
      const flow = await env.sluice!.waitForFlow(
        (l) => l.dst === formatEndpoint(f.remote, halfClose.port) && l.up === request.length,
        5000,
        `half-close flow to ${f.remote}`,
      );
      assert.equal(flow.down, header.length + REPLY_SIZE);
      assert.equal(flow.error, undefined, `unexpected error in ${JSON.stringify(flow)}`);
    });
  }

  it('a block rule resets the connection at once and logs outbound "deny"', async function () {
    // 203.0.113.0/24 (TEST-NET-3) reaches the gateway by the client's default route; no host needs to exist.
    const r = await curl(env.topo, 'http://203.0.113.9:80/', 5);
    // 7: refused/reset while connecting, 55/56: reset while sending/receiving. 52 would be a FIN, not a reset;
    // 28 (curl's own timeout) would mean nobody answered.
    assert.ok([7, 55, 56].includes(r.exitCode ?? -1), `expected a reset: ${describeCurl(r)}`);
    const flow = await env.sluice!.waitForFlow((l) => l.dst === '203.0.113.9:80', 3000, 'dst 203.0.113.9:80');
    assert.equal(flow.outbound, 'deny', describeFlows([flow]));
    assert.equal(flow.network, 'tcp');
    assert.equal(flow.src.startsWith(`${A.client.v4}:`), true);
  });

  it('a client reusing its source port at once connects without a SYN retransmit (TIME_WAIT in the gateway)', async function () {
    const synRetrans = async (): Promise<number> => {
      const r = await env.topo.exec('client', 'cat', ['/proc/net/netstat']);
      const [names, values] = r.stdout.split('\n').filter((l) => l.startsWith('TcpExt:'));
      const i = names!.split(/\s+/).indexOf('TCPSynRetrans');
      return Number(values!.split(/\s+/)[i]);
    };
    // The server closes first (Connection: close), and this client closes only after the EOF: Sluice's FIN on
    // the client leg goes first, so the gateway's end of it, a transparent socket, stays in TIME_WAIT for this
    // very 4-tuple. (curl would race Sluice to close.) python3 is a build requirement of the addon.
    const script = [
      'import socket, sys',
      'host, port = sys.argv[1], int(sys.argv[2])',
      's = socket.socket()',
      's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
      `s.bind(('${A.client.v4}', 41234))`,
      's.settimeout(5)',
      's.connect((host, port))',
      "s.sendall(b'GET /reuse HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')",
      "data = b''",
      'while True:',
      '    d = s.recv(65536)',
      '    if not d: break',
      '    data += d',
      's.close()',
      "print(data.split(b' ')[1].decode())",
    ].join('\n');
    const args = ['-c', script, A.remote.v4, String(http.port)];
    const first = await env.topo.exec('client', 'python3', args, { allowFailure: true });
    assert.equal(first.stdout.trim(), '200', first.stderr);
    const tw = await env.topo.exec('gw', 'ss', ['-Htan', 'state', 'time-wait', `( sport = :${http.port} and dport = :41234 )`]);
    assert.notEqual(tw.stdout.trim(), '', 'the first flow left no TIME_WAIT socket in the gateway: this test checks nothing');
    const before = await synRetrans();
    const second = await env.topo.exec('client', 'python3', args, { allowFailure: true });
    assert.equal(second.stdout.trim(), '200', second.stderr);
    // Matched by `socket transparent 1`, the SYN would reach the TIME_WAIT socket, get a stale ACK, and be retried.
    assert.equal(await synRetrans(), before, 'the second SYN was retransmitted');
  });

  it("Sluice's outbound packets carry mark 0x2", async function () {
    const before = await readMarkCounter(env.topo);
    const r = await curl(env.topo, url(A.remote.v4, http.port, '/mark'));
    assert.equal(r.exitCode, 0, describeCurl(r));
    const after = await readMarkCounter(env.topo);
    // At least SYN, request and ACKs: a handful of packets, all from the direct outbound's socket.
    assert.ok(after - before >= 3, `marked packets went from ${before} to ${after}`);
  });
});
