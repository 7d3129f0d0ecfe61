import * as assert from 'node:assert/strict';
import { applySluiceRules, formatEndpoint, TOPOLOGY_ADDRESSES as A } from '@sluice/testbed';
import { curl, describeCurl } from '../helpers/clients';
import { notOk, runDoctor } from '../helpers/doctor-run';
import { useE2E } from '../helpers/env';
import { startHttpServer, type ProbeServer } from '../helpers/servers';
import { writeFile } from '../helpers/sluice';

const FAMILIES = [
  { family: 'IPv4', client: A.client.v4, remote: A.remote.v4, gw: A.gwWan.v4, gwLan: A.gwLan.v4, inbound: 'r4', port: 15011 },
  { family: 'IPv6', client: A.client.v6, remote: A.remote.v6, gw: A.gwWan.v6, gwLan: A.gwLan.v6, inbound: 'r6', port: 15012 },
] as const;

/** Redirect inbounds only: nat redirect delivers to the arriving interface's address, so they listen on wildcards. */
const REDIRECT_CONFIG = `log: { level: info }
inbounds:
  - { tag: r4, type: redirect, listen: 0.0.0.0, port: 15011 }
  - { tag: r6, type: redirect, listen: "::", port: 15012 }
outbounds:
  - { tag: direct, type: direct, mark: 0x2 }
route: { final: direct }
`;

const url = (host: string, port: number, path = '/'): string => `http://${formatEndpoint(host, port)}${path}`;

describe('e2e: redirect inbound (nat redirect, SO_ORIGINAL_DST)', function () {
  const env = useE2E({ tag: 'redir', firewall: false, sluice: false });
  let http: ProbeServer;

  before(async function () {
    this.timeout(60_000);
    env.configPath = writeFile(env.tmp, 'redirect.yaml', REDIRECT_CONFIG);
    await applySluiceRules(env.topo, env.configPath);
    // Nothing may be forwarded: a flow that reaches the remote went through Sluice.
    await env.topo.installFinalDrop();
    http = await startHttpServer(env.topo);
    await env.startSluice();
  });

  it('sluice rules installed nat chains and no tproxy rule or policy routing', async function () {
    const table = await env.topo.exec('gw', 'nft', ['list', 'table', 'inet', 'sluice']);
    assert.match(table.stdout, /chain nat_prerouting \{/);
    assert.match(table.stdout, /redirect to :15011/);
    assert.match(table.stdout, /redirect to :15012/);
    assert.doesNotMatch(table.stdout, /tproxy/);
    const rules = await env.topo.exec('gw', 'ip', ['rule', 'list', 'fwmark', '0x1']);
    assert.equal(rules.stdout.trim(), '');
  });

  it('sluice doctor --probe: every check OK with no tproxy expression or policy routing needed, exit 0', async function () {
    const run = await runDoctor(env.topo, env.configPath, '--probe');
    assert.deepEqual(notOk(run), [], run.stdout);
    assert.equal(run.code, 0, run.stdout);
    assert.match(run.lines.get('nft-expressions') ?? '', /accepts nft nat redirect expressions$/, run.stdout);
    assert.match(run.lines.get('policy-routing') ?? '', /not needed: redirect inbounds only/, run.stdout);
    // TCP only: the IPv4 inbound carries no UDP, so the probe sends none.
    assert.match(run.lines.get('probe') ?? '', /^OK {3}probe: TCP captured and relayed by Sluice$/, run.stdout);
  });

  for (const f of FAMILIES) {
    it(`${f.family}: HTTP arrives with its original destination, and the remote sees the gateway`, async function () {
      const path = `/redirect-${f.family}`;
      const r = await curl(env.topo, url(f.remote, http.port, path));
      assert.equal(r.exitCode, 0, describeCurl(r));
      assert.equal(r.httpCode, 200, describeCurl(r));
      const body = JSON.parse(r.body) as { peer: string; url: string };
      assert.equal(body.url, path);
      assert.equal(body.peer, f.gw, `remote saw ${body.peer}, not the gateway`);
      const src = formatEndpoint(f.client, r.localPort);
      const flow = await env.sluice!.waitForFlow((l) => l.src === src, 5000, `src ${src}`);
      assert.deepEqual(
        { network: flow.network, dst: flow.dst, inbound: flow.inbound, outbound: flow.outbound, error: flow.error },
        { network: 'tcp', dst: formatEndpoint(f.remote, http.port), inbound: f.inbound, outbound: 'direct', error: undefined },
      );
    });

    it(`${f.family}: a connection to the listener itself (not redirected) is reset by the loop guard, and Sluice keeps serving`, async function () {
      const direct = await curl(env.topo, url(f.gwLan, f.port, '/not-redirected'), 3);
      // 56: reset while receiving, 52: closed without a reply, 7: refused: anything but an answer.
      assert.ok([7, 52, 56].includes(direct.exitCode ?? -1), `expected a reset: ${describeCurl(direct)}`);
      // Conntrack reports an unrewritten connection's own destination: the listener, which the loop guard refuses.
      const dst = formatEndpoint(f.gwLan, f.port);
      const flow = await env.sluice!.waitForFlow((l) => l.dst === dst, 5000, `dst ${dst}`);
      assert.equal(flow.rule, 'loop');
      const after = await curl(env.topo, url(f.remote, http.port, `/after-${f.family}`));
      assert.equal(after.exitCode, 0, describeCurl(after));
    });
  }

  it('with relay.splice off (accepted as net.Socket, not natively): IPv4 and IPv6 still reach their original destinations', async function () {
    await env.stopSluice();
    await env.startSluice(writeFile(env.tmp, 'redirect-stream.yaml', `${REDIRECT_CONFIG}relay: { splice: false }\n`));
    for (const f of FAMILIES) {
      const r = await curl(env.topo, url(f.remote, http.port, `/stream-${f.family}`));
      assert.equal(r.exitCode, 0, describeCurl(r));
      const src = formatEndpoint(f.client, r.localPort);
      const flow = await env.sluice!.waitForFlow((l) => l.src === src, 5000, `src ${src}`);
      assert.deepEqual([flow.dst, flow.inbound, flow.error], [formatEndpoint(f.remote, http.port), f.inbound, undefined]);
    }
  });
});
