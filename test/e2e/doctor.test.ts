import * as assert from 'node:assert/strict';
import { listNamespaces, TOPOLOGY_ADDRESSES as A } from '@sluice/testbed';
import { useE2E } from '../helpers/env';
import { applySluiceRules, contractConfig, runSluice, writeFile } from '../helpers/sluice';

/** One run of `sluice doctor` in the gateway: exit code, and the status line of each check by id. */
interface DoctorRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly lines: ReadonlyMap<string, string>;
}

describe('e2e: sluice doctor in the gateway', function () {
  const env = useE2E({ tag: 'doc' });

  async function doctor(...extra: string[]): Promise<DoctorRun> {
    const r = await runSluice(env.topo, ['doctor', '-c', env.configPath, ...extra], { allowFailure: true, timeoutMs: 60_000 });
    const lines = new Map<string, string>();
    for (const line of r.stdout.split('\n')) {
      const m = /^(OK  |WARN|FAIL) ([a-z-]+): /.exec(line);
      if (m) lines.set(m[2]!, line);
    }
    return { code: r.code, stdout: r.stdout + r.stderr, lines };
  }

  /** Asserts that exactly `id` is not OK, with `status`, and the exit code that status gives. */
  function expectOnly(run: DoctorRun, id: string, status: 'WARN' | 'FAIL', pattern: RegExp): string {
    const line = run.lines.get(id) ?? '';
    assert.ok(line.startsWith(status), `${id} should be ${status}:\n${run.stdout}`);
    assert.match(line, pattern, run.stdout);
    const others = [...run.lines].filter(([k, l]) => k !== id && !l.startsWith('OK'));
    assert.deepEqual(others, [], `only ${id} should be off:\n${run.stdout}`);
    assert.equal(run.code, status === 'FAIL' ? 2 : 1, run.stdout);
    return run.stdout;
  }

  const gw = (cmd: string, ...args: string[]): Promise<unknown> => env.topo.exec('gw', cmd, args);

  it('a healthy gateway: every check OK, exit 0', async function () {
    const run = await doctor();
    assert.equal(run.code, 0, run.stdout);
    assert.equal(run.lines.size, 14, run.stdout);
    for (const [id, line] of run.lines) assert.ok(line.startsWith('OK'), `${id}: ${line}`);
  });

  it('--probe: TCP and UDP from a test namespace are captured and relayed by Sluice; the probe namespaces are gone afterwards', async function () {
    const run = await doctor('--probe');
    assert.equal(run.code, 0, run.stdout);
    assert.match(run.lines.get('probe') ?? '', /^OK {3}probe: TCP captured and relayed by Sluice; UDP captured and relayed by Sluice$/, run.stdout);
    assert.deepEqual(await listNamespaces('sluice-doctor-'), []);
  });

  it('no ip rule: FAIL policy-routing, exit 2', async function () {
    await gw('ip', 'rule', 'del', 'fwmark', '0x1', 'lookup', '100');
    try {
      expectOnly(await doctor(), 'policy-routing', 'FAIL', /missing ip -4 rule: fwmark 0x1 lookup 100$/);
    } finally {
      await applySluiceRules(env.topo, env.configPath);
    }
  });

  it('table inet sluice missing: FAIL nft-table, exit 2', async function () {
    await gw('nft', 'delete', 'table', 'inet', 'sluice');
    try {
      expectOnly(await doctor(), 'nft-table', 'FAIL', /table inet sluice is not loaded/);
    } finally {
      await applySluiceRules(env.topo, env.configPath);
    }
  });

  it('table inet sluice differs from the rendered one: FAIL nft-table with the differing line', async function () {
    await gw('nft', 'insert', 'rule', 'inet', 'sluice', 'prerouting', 'tcp', 'dport', '22', 'return');
    try {
      const out = expectOnly(await doctor(), 'nft-table', 'FAIL', /differs from what sluice rules renders/);
      assert.match(out, /the host has: +tcp dport 22 return/);
    } finally {
      await applySluiceRules(env.topo, env.configPath);
    }
  });

  it('ip_forward 0: FAIL forwarding, exit 2', async function () {
    await gw('sysctl', '-qw', 'net.ipv4.ip_forward=0');
    try {
      expectOnly(await doctor(), 'forwarding', 'FAIL', /net\.ipv4\.ip_forward is not 1/);
    } finally {
      await gw('sysctl', '-qw', 'net.ipv4.ip_forward=1');
    }
  });

  it('strict rp_filter on the LAN interface: WARN rp-filter with the sysctl fix, exit 1', async function () {
    await gw('sysctl', '-qw', `net.ipv4.conf.${A.gwLan.dev}.rp_filter=1`);
    try {
      const out = expectOnly(await doctor(), 'rp-filter', 'WARN', new RegExp(`strict rp_filter \\(1\\) on ${A.gwLan.dev}:`));
      assert.match(out, new RegExp(`fix: sysctl -w net\\.ipv4\\.conf\\.${A.gwLan.dev}\\.rp_filter=2`));
    } finally {
      await gw('sysctl', '-qw', `net.ipv4.conf.${A.gwLan.dev}.rp_filter=0`);
    }
  });

  it('Sluice not running: FAIL inbounds-listening; --probe sees the SYN go uncaptured', async function () {
    await env.stopSluice();
    try {
      const run = await doctor('--probe');
      assert.match(run.lines.get('inbounds-listening') ?? '', /^FAIL inbounds-listening: nothing listens on in4 tcp 127\.0\.0\.1:15001, .*not running\?/, run.stdout);
      assert.match(run.stdout, /fix: start it: sluice run -c /);
      assert.match(run.lines.get('probe') ?? '', /^FAIL probe: TCP SYN not accepted/, run.stdout);
      assert.equal(run.code, 2);
      assert.deepEqual(await listNamespaces('sluice-doctor-'), []);
    } finally {
      await env.startSluice();
    }
  });

  it('local mode with an outbound that has no bypass mark: FAIL outbound-marks', async function () {
    const config = contractConfig().replace('  - { tag: deny, type: block }', '  - { tag: deny, type: block }\n  - { tag: bare, type: direct }') + 'firewall: { local: true }\n';
    const file = writeFile(env.tmp, 'local.yaml', config);
    const r = await runSluice(env.topo, ['doctor', '-c', file], { allowFailure: true, timeoutMs: 60_000 });
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stdout, /^FAIL outbound-marks: local mode, but outbounds\[2\] "bare" has no mark containing 0x2: its connections loop back into Sluice$/m);
    assert.match(r.stdout, /fix: add "mark: 0x2" to it/);
    // What `sluice run` would refuse is said too, and the other checks still ran.
    assert.match(r.stdout, /^FAIL config: sluice run would refuse this config: outbounds\[2\]/m);
    assert.match(r.stdout, /^OK {3}cap-net-admin: /m);
  });
});
