import { strict as assert } from 'node:assert';
import {
  exitCodeOf,
  firstDifference,
  formatOutcome,
  formatSummary,
  parseProcNet,
  probeInterfaceName,
  probeVerdict,
  runChecks,
  PROBE_NET,
  type DoctorCheck,
} from '@sluice/core';
import { fakeContext } from './doctor-fake-context';

const check = (id: string, run: DoctorCheck['run']): DoctorCheck => ({ id, title: id, run });

describe('doctor runner and report', () => {
  it('exit code is the worst result: 0 OK, 1 WARN, 2 FAIL; a check that throws is a FAIL', async () => {
    const ctx = fakeContext({});
    const okCheck = check('a', async () => ({ status: 'ok', message: 'fine' }));
    const warnCheck = check('b', async () => ({ status: 'warn', message: 'hm', fix: 'do x' }));
    const throwing = check('c', async () => {
      throw new Error('boom');
    });
    assert.equal(exitCodeOf(await runChecks([okCheck], ctx)), 0);
    assert.equal(exitCodeOf(await runChecks([okCheck, warnCheck], ctx)), 1);
    const all = await runChecks([okCheck, throwing, warnCheck], ctx);
    assert.equal(exitCodeOf(all), 2);
    assert.deepEqual(all[1]!.result, { status: 'fail', message: 'check failed: boom' });
  });

  it('prints one line per check, then details and the fix indented under a WARN or FAIL', () => {
    const out = formatOutcome({ check: check('policy-routing', async () => ({ status: 'ok', message: '' })), result: { status: 'fail', message: 'missing x', fix: 'sluice rules -c f --apply', details: ['d1'] } });
    assert.equal(out, 'FAIL policy-routing: missing x\n     d1\n     fix: sluice rules -c f --apply\n');
    assert.equal(formatOutcome({ check: check('a', async () => ({ status: 'ok', message: '' })), result: { status: 'ok', message: 'fine', fix: 'unused' } }), 'OK   a: fine\n');
    assert.equal(
      formatSummary([
        { check: check('a', async () => ({ status: 'ok', message: '' })), result: { status: 'ok', message: '' } },
        { check: check('b', async () => ({ status: 'ok', message: '' })), result: { status: 'warn', message: '' } },
      ]),
      '2 checks: 1 OK, 1 WARN, 0 FAIL\n',
    );
  });

  it('firstDifference names the first differing line, ignoring trailing blanks', () => {
    assert.equal(firstDifference('a\n\tb  \n', 'a\n\tb\n'), undefined);
    assert.deepEqual(firstDifference('a\nb\n', 'a\n'), ['line 2: sluice rules renders: b', 'line 2: the host has:        (nothing)']);
  });

  it('parseProcNet decodes /proc/net addresses (host byte order per 32-bit word) and ports', () => {
    const t = parseProcNet(
      'sl local rem st\n 0: 0100007F:3A99 00000000:0000 0A 0\n 1: 00000000000000000000000001000000:0035 0:0 07 0\n 2: B80D0120000000000000000001000000:1F90 0:0 0A 0\n',
    );
    assert.deepEqual(t, [
      { address: '127.0.0.1', port: 15001, state: '0A' },
      { address: '::1', port: 53, state: '07' },
      { address: '2001:db8::1', port: 8080, state: '0A' },
    ]);
  });

  describe('probe', () => {
    it('reads the answers: the host address means relayed by Sluice, the client address means forwarded past it', () => {
      const path = '/etc/sluice/config.yaml';
      assert.equal(probeVerdict({ tcp: { connected: true, reply: PROBE_NET.hostServerSide }, udp: { reply: PROBE_NET.hostServerSide } }, path).status, 'ok');
      const past = probeVerdict({ tcp: { connected: true, reply: PROBE_NET.client }, udp: { reply: PROBE_NET.client } }, path);
      assert.equal(past.status, 'fail');
      assert.match(past.message, /^TCP went past Sluice/);
      const refused = probeVerdict({ tcp: { connected: false, reply: '', error: 'ETIMEDOUT' } }, path);
      assert.equal(refused.status, 'fail');
      assert.match(refused.message, /TCP SYN not accepted \(ETIMEDOUT\)/);
      // Accepted but routed elsewhere (a block rule, a proxy that cannot reach the probe server): still captured.
      assert.equal(probeVerdict({ tcp: { connected: true, reply: '', error: 'ECONNRESET' } }, path).status, 'ok');
      assert.equal(probeVerdict({ tcp: { connected: true, reply: PROBE_NET.hostServerSide }, udp: { reply: '', error: 'timeout' } }, path).status, 'warn');
    });
    it('names its host interface so that firewall.interfaces captures it, or gives up', () => {
      assert.equal(probeInterfaceName([], 12345), 'sdp12345');
      assert.equal(probeInterfaceName(['eth1', 'lan*'], 12345), 'lansdp12345');
      assert.equal(probeInterfaceName(['eth1'], 12345), undefined);
      assert.equal(probeInterfaceName(['averylongname*'], 12345), undefined);
    });
  });
});
