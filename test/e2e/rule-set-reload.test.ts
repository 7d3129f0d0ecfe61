import * as assert from 'node:assert/strict';
import { TOPOLOGY_ADDRESSES as A } from '@sluice/testbed';
import { curl, describeCurl } from '../helpers/clients';
import { useE2E } from '../helpers/env';
import { startHalfCloseServer, startHttpServer, type ProbeServer } from '../helpers/servers';
import { contractConfig, writeFile } from '../helpers/sluice';

/** The contract config with a text rule set, `blocked.txt` next to it, sent to the block outbound by a Clash line. */
const ruleSetConfig = (): string =>
  contractConfig().replace(
    '  rules:\n',
    '  rule_sets:\n    - { tag: blocked, type: file, path: blocked.txt, format: text }\n  rules:\n    - "RULE-SET,blocked,deny"\n',
  );

describe('e2e: a rule-set file edited while running', function () {
  const env = useE2E({ tag: 'rset', sluice: false });
  let http: ProbeServer;
  let hold: ProbeServer;

  before(async function () {
    http = await startHttpServer(env.topo);
    hold = await startHalfCloseServer(env.topo, 16);
  });
  afterEach(async function () {
    await env.stopSluice();
  });

  it('changes decisions for new flows; a flow routed before the edit continues', async function () {
    writeFile(env.tmp, 'blocked.txt', '# nothing blocked yet\n198.51.100.0/24\n');
    const path = writeFile(env.tmp, 'rule-set.yaml', ruleSetConfig());
    const sluice = await env.startSluice(path);
    const target = `http://${A.remote.v4}:${http.port}/`;
    const before = await curl(env.topo, target);
    assert.equal(before.exitCode, 0, `before the edit: ${describeCurl(before)}`);

    const client = env.topo.spawn('client', 'socat', ['-', `TCP4:${A.remote.v4}:${hold.port}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let reply = '';
    client.stdout!.on('data', (d: Buffer) => (reply += d.toString()));
    const clientDone = new Promise<void>((resolve) => client.once('exit', () => resolve()));
    try {
      await hold.probe.waitForEvent('connection', (e) => e.peer === A.gwWan.v4);

      writeFile(env.tmp, 'blocked.txt', `198.51.100.0/24\n${A.remote.v4}\n`);
      const line = await sluice.waitFor((l) => l.msg === 'rule set reloaded', 10_000, 'the "rule set reloaded" line');
      assert.equal(line.rule_set, 'blocked');
      assert.equal(line.entries, 2);

      const after = await curl(env.topo, target, 3);
      assert.notEqual(after.exitCode, 0, `after the edit the request should be blocked: ${describeCurl(after)}`);
      const blocked = await sluice.waitFor((l) => l.msg === 'flow closed' && l.outbound === 'deny' && l.dst === `${A.remote.v4}:${http.port}`, 5000, 'the blocked flow');
      assert.equal(blocked.rule, 'rules[0]');

      client.stdin!.end('request');
      await clientDone;
      assert.equal(reply, 'received 7\nabcdefghijklmnop', 'the flow routed before the edit should complete');
      const held = await sluice.waitFor((l) => l.msg === 'flow closed' && l.dst === `${A.remote.v4}:${hold.port}`, 5000, 'the held flow');
      assert.equal(held.outbound, 'direct');

      // A broken edit keeps the contents that were working.
      writeFile(env.tmp, 'blocked.txt', 'not a valid entry\n');
      const failed = await sluice.waitFor((l) => l.msg === 'rule set not reloaded; keeping its previous contents', 10_000, 'the reload error');
      assert.equal(failed.rule_set, 'blocked');
      assert.match(String(failed.error), /line 1: invalid domain "not a valid entry"/);
      const still = await curl(env.topo, target, 3);
      assert.notEqual(still.exitCode, 0, `still blocked with the previous contents: ${describeCurl(still)}`);
    } finally {
      client.kill('SIGKILL');
    }
  });

  it('a missing rule-set file at start is a config error naming the key', async function () {
    const path = writeFile(env.tmp, 'rule-set-missing.yaml', ruleSetConfig().replace('path: blocked.txt', 'path: nosuch.txt'));
    await assert.rejects(env.startSluice(path), /route\.rule_sets\[0\]\.path: file not found: .*nosuch\.txt/);
  });
});
