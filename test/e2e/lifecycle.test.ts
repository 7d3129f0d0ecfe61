import * as assert from 'node:assert/strict';
import { formatExit, TOPOLOGY_ADDRESSES as A } from '@sluice/testbed';
import { curl, describeCurl } from '../helpers/clients';
import { useE2E } from '../helpers/env';
import { startHalfCloseServer, startHttpServer, type ProbeServer } from '../helpers/servers';
import { assertRefusedForCapNetAdmin, contractConfig, runSluice, startSluice, writeFile } from '../helpers/sluice';

const BAD_CONFIG = `inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: 99999, network: [tcp] }
outbounds:
  - { tag: direct, type: direct }
route: { final: direct }
`;

describe('e2e: Sluice lifecycle', function () {
  const DRAIN_MS = 1000;
  // Sluice is started per test here.
  const env = useE2E({ tag: 'life', sluice: false, drainMs: DRAIN_MS });
  let http: ProbeServer;

  before(async function () {
    http = await startHttpServer(env.topo);
  });
  afterEach(async function () {
    await env.stopSluice();
  });

  it('fails closed: with Sluice stopped the same request is dropped, not forwarded', async function () {
    const target = `http://${A.remote.v4}:${http.port}/`;
    await env.startSluice();
    const ok = await curl(env.topo, target);
    assert.equal(ok.exitCode, 0, `sanity check through Sluice: ${describeCurl(ok)}`);
    await env.stopSluice();
    const seen = http.probe.eventsNamed('closed').length;
    const r = await curl(env.topo, target, 2);
    assert.notEqual(r.exitCode, 0, `request got through without Sluice: ${describeCurl(r)}`);
    assert.equal(http.probe.eventsNamed('closed').length, seen, 'the remote saw a connection while Sluice was down');
  });

  for (const command of ['run', 'check']) {
    it(`sluice ${command} with a bad config exits 1 and names the bad key on stderr`, async function () {
      const bad = writeFile(env.tmp, 'bad.yaml', BAD_CONFIG);
      // Run in the gateway namespace, so even a broken validator cannot bind anything on the host.
      const r = await runSluice(env.topo, [command, '-c', bad], { allowFailure: true });
      assert.equal(r.code, 1, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
      assert.match(r.stderr, /inbounds\[0\]\.port/);
    });
  }

  it('sluice check accepts the contract config', async function () {
    const r = await runSluice(env.topo, ['check', '-c', env.configPath], { allowFailure: true });
    assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  });

  it('SIGTERM: drains, cuts the flow still open at the end of the drain (its access line says so), logs that it stopped, and exits 0', async function () {
    const hold: ProbeServer = await startHalfCloseServer(env.topo, 16);
    const sluice = await env.startSluice();
    // A client that never finishes its request keeps a flow open through the drain.
    const client = env.topo.spawn('client', 'socat', ['-u', '-', `TCP4:${A.remote.v4}:${hold.port}`], { stdio: ['pipe', 'ignore', 'pipe'] });
    try {
      await hold.probe.waitForEvent('connection', (e) => e.peer === A.gwWan.v4);
      sluice.child.kill('SIGTERM');
      // The open flow would keep Sluice up for ever without the drain's end: exiting at all is the event that counts
      // (a hang is mocha's timeout).
      const status = await sluice.exited;
      assert.equal(status.code, 0, `exit ${formatExit(status)}\n${sluice.describe()}`);
      assert.ok(
        sluice.lines.some((l) => typeof l.msg === 'string' && /\bstop/i.test(l.msg)),
        `no stop line in the log\n${sluice.describe()}`,
      );
      // The flow still open at SIGTERM is cut after the drain, and still gets its access-log line.
      const dst = `${A.remote.v4}:${hold.port}`;
      const cut = sluice.flows().find((f) => f.dst === dst);
      assert.ok(cut, `no access-log line for the flow to ${dst}\n${sluice.describe()}`);
      assert.match(cut.error ?? '', /shutdown/, `a flow cut at the end of the drain says so: ${JSON.stringify(cut)}`);
    } finally {
      client.kill('SIGKILL');
    }
  });

  it('without CAP_NET_ADMIN (and CAP_NET_RAW), sluice run exits 1 and says CAP_NET_ADMIN', async function () {
    // IP_TRANSPARENT is allowed with either CAP_NET_ADMIN or CAP_NET_RAW, so both go.
    // Root's capabilities after exec come from the bounding and inheritable sets.
    const drop = '-net_admin,-net_raw';
    const sluice = await startSluice(env.topo, {
      args: ['run', '-c', writeFile(env.tmp, 'nocap.yaml', contractConfig({ drainMs: DRAIN_MS }))],
      wrapper: ['setpriv', `--bounding-set=${drop}`, `--inh-caps=${drop}`, '--'],
      waitStarted: false,
    });
    await assertRefusedForCapNetAdmin(sluice);
  });
});
