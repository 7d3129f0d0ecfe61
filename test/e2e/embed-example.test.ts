import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { SluiceProcess, TOPOLOGY_ADDRESSES as A } from '@sluice/testbed';
import { curl, describeCurl } from '../helpers/clients';
import { useE2E } from '../helpers/env';
import { startHttpServer, type ProbeServer } from '../helpers/servers';

const EMBED = path.join(__dirname, '../../../examples/embed.js');

describe('e2e: examples/embed.js', function () {
  // The gateway's rules come from the contract config, whose IPv4 inbound is the example's port.
  const env = useE2E({ tag: 'embd', sluice: false });
  let http: ProbeServer;
  let embed: SluiceProcess | undefined;

  before(async function () {
    // Port 80: the example's reload blocks it.
    http = await startHttpServer(env.topo, 'remote', 80);
  });
  after(async function () {
    await embed?.stop('SIGTERM');
  });

  it('routes through the async hook, emits flow and flow:closed, and reloads on SIGHUP', async function () {
    embed = new SluiceProcess(env.topo.spawn('gw', process.execPath, [EMBED]), 'examples/embed.js in gw');
    await embed.waitForStarted();
    const target = `http://${A.remote.v4}:${http.port}/`;
    const ok = await curl(env.topo, target);
    assert.equal(ok.exitCode, 0, describeCurl(ok));
    const routed = await embed.waitFor((l) => l.msg === 'example: routed' && l.dst === `${A.remote.v4}:${http.port}`, 5000, 'a flow event');
    assert.equal(routed.outbound, 'direct');
    assert.equal(routed.network, 'tcp');
    const closed = await embed.waitFor((l) => l.msg === 'example: closed' && l.flowId === routed.id, 5000, 'its flow:closed event');
    assert.ok((closed.down as number) > 0, JSON.stringify(closed));

    // Port 23: the hook sends it to deny.
    const telnet = await curl(env.topo, `telnet://${A.remote.v4}:23`, 3);
    assert.notEqual(telnet.exitCode, 0);
    await embed.waitFor((l) => l.msg === 'example: routed' && l.rule === 'hook' && l.outbound === 'deny', 5000, 'the hook decision');

    embed.child.kill('SIGHUP');
    await embed.waitFor((l) => l.msg === 'example: reloaded' && l.blocking === true, 5000, 'the reload');
    const blocked = await curl(env.topo, target, 3);
    assert.notEqual(blocked.exitCode, 0, `port 80 should be blocked after the reload: ${describeCurl(blocked)}`);
  });
});
