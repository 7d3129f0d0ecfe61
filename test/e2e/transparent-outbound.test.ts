import * as assert from 'node:assert/strict';
import { applySluiceRules, formatEndpoint, TOPOLOGY_ADDRESSES as A } from '@sluice/testbed';
import { curl, describeCurl } from '../helpers/clients';
import { notOk, runDoctor } from '../helpers/doctor-run';
import { useE2E } from '../helpers/env';
import { startHttpServer, type ProbeServer } from '../helpers/servers';
import { writeFile } from '../helpers/sluice';

const FAMILIES = [
  { family: 'IPv4', client: A.client.v4, remote: A.remote.v4 },
  { family: 'IPv6', client: A.client.v6, remote: A.remote.v6 },
] as const;

/** The demo's inbounds, with a direct outbound that binds each client's own address. */
const TRANSPARENT_CONFIG = `log: { level: info }
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001, network: [tcp] }
  - { tag: in6, type: tproxy, listen: "::1", port: 15002, network: [tcp] }
outbounds:
  - { tag: as-client, type: direct, mark: 0x2, transparent: true }
route: { final: as-client }
`;

const url = (host: string, port: number, path = '/'): string => `http://${formatEndpoint(host, port)}${path}`;

describe("e2e: direct outbound with transparent: true (the remote sees the client's address)", function () {
  const env = useE2E({ tag: 'transp', firewall: false, sluice: false });
  let http: ProbeServer;

  before(async function () {
    this.timeout(60_000);
    env.configPath = writeFile(env.tmp, 'transparent.yaml', TRANSPARENT_CONFIG);
    await applySluiceRules(env.topo, env.configPath);
    // Nothing may be forwarded: the remote seeing the client's address must come from Sluice's own socket.
    await env.topo.installFinalDrop();
    http = await startHttpServer(env.topo);
    await env.startSluice();
  });

  for (const f of FAMILIES) {
    it(`${f.family}: the remote sees the client's own address, and the replies reach Sluice`, async function () {
      const path = `/as-client-${f.family}`;
      const r = await curl(env.topo, url(f.remote, http.port, path));
      assert.equal(r.exitCode, 0, describeCurl(r));
      assert.equal(r.httpCode, 200, describeCurl(r));
      const body = JSON.parse(r.body) as { peer: string; url: string };
      assert.equal(body.url, path);
      assert.equal(body.peer, f.client, `remote saw ${body.peer}, not the client`);
      const src = formatEndpoint(f.client, r.localPort);
      const flow = await env.sluice!.waitForFlow((l) => l.src === src, 5000, `src ${src}`);
      assert.equal(flow.outbound, 'as-client');
      assert.equal(flow.error, undefined, JSON.stringify(flow));
    });
  }

  it('sluice doctor: transparent-return OK, every check OK, exit 0', async function () {
    const run = await runDoctor(env.topo, env.configPath);
    assert.deepEqual(notOk(run), [], run.stdout);
    assert.match(run.lines.get('transparent-return') ?? '', /replies to client addresses \(as-client\) are marked 0x1 and delivered to Sluice/, run.stdout);
  });

  it('without the policy routing the replies are not delivered, the flow fails, and doctor says why', async function () {
    await env.topo.exec('gw', 'ip', ['rule', 'del', 'fwmark', '0x1', 'lookup', '100']);
    try {
      const r = await curl(env.topo, url(A.remote.v4, http.port, '/no-return-route'), 3);
      assert.notEqual(r.exitCode, 0, `the flow worked without the return route: ${describeCurl(r)}`);
      const run = await runDoctor(env.topo, env.configPath);
      assert.deepEqual(notOk(run), ['policy-routing', 'transparent-return'], run.stdout);
      assert.match(run.lines.get('transparent-return') ?? '', /^FAIL transparent-return: replies to as-client are marked but not delivered locally/, run.stdout);
      assert.equal(run.code, 2);
    } finally {
      await env.topo.exec('gw', 'ip', ['rule', 'add', 'fwmark', '0x1', 'lookup', '100', 'protocol', '250']);
    }
  });

  it('with a masquerade rule on the way out: WARN transparent-return, exit 1', async function () {
    const table = 'sluice_test_masq';
    await env.topo.installFirewall('gw', `table ip ${table} {\n  chain post {\n    type nat hook postrouting priority srcnat; policy accept;\n    oifname "wan0" masquerade\n  }\n}\n`);
    try {
      const run = await runDoctor(env.topo, env.configPath);
      assert.deepEqual(notOk(run), ['transparent-return'], run.stdout);
      assert.match(run.lines.get('transparent-return') ?? '', /^WARN transparent-return: source NAT may rewrite the client addresses/, run.stdout);
      assert.equal(run.code, 1);
    } finally {
      await env.topo.exec('gw', 'nft', ['delete', 'table', 'ip', table]);
    }
  });
});
