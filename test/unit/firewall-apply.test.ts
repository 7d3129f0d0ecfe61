import { strict as assert } from 'node:assert';
import {
  applyFirewall,
  FirewallCommandError,
  removeFirewall,
  spawnRunner,
  type CommandResult,
  type CommandRunner,
  type RenderedFirewall,
} from '@sluice/core';

const FW: RenderedFirewall = {
  nft: 'table inet sluice {}\n',
  up: ['ip rule add fwmark 0x1 lookup 100', 'ip route add local default dev lo table 100'],
  down: ['nft delete table inet sluice', 'ip rule del fwmark 0x1 lookup 100', 'ip route del local default dev lo table 100'],
};

/** Records every call and answers from `script` (matched on the joined command line). */
function fakeRunner(script: Record<string, Partial<CommandResult>>): { run: CommandRunner; calls: string[]; inputs: (string | undefined)[] } {
  const calls: string[] = [];
  const inputs: (string | undefined)[] = [];
  const run: CommandRunner = async (argv, input) => {
    const line = argv.join(' ');
    calls.push(line);
    inputs.push(input);
    return { code: 0, stdout: '', stderr: '', ...script[line] };
  };
  return { run, calls, inputs };
}

describe('firewall: apply and remove', () => {
  it('loads the ruleset through nft -f - first, then adds the policy routing', async () => {
    const f = fakeRunner({});
    const log = await applyFirewall(FW, f.run);
    assert.deepEqual(f.calls, [
      'nft -f -',
      'ip rule list fwmark 0x1 lookup 100',
      'ip rule add fwmark 0x1 lookup 100',
      'ip route add local default dev lo table 100',
    ]);
    assert.equal(f.inputs[0], FW.nft);
    assert.deepEqual(log, ['nft: loaded table inet sluice', ...FW.up]);
  });

  it('does not add an ip rule twice and ignores routes that exist', async () => {
    const f = fakeRunner({
      'ip rule list fwmark 0x1 lookup 100': { stdout: '32765:\tfrom all fwmark 0x1 lookup 100\n' },
      'ip route add local default dev lo table 100': { code: 2, stderr: 'RTNETLINK answers: File exists\n' },
    });
    const log = await applyFirewall(FW, f.run);
    assert.ok(!f.calls.includes('ip rule add fwmark 0x1 lookup 100'));
    assert.deepEqual(log.slice(1), [`${FW.up[0]}: already present`, `${FW.up[1]}: already present`]);
  });

  it('fails without touching routing when nft refuses the ruleset', async () => {
    const f = fakeRunner({ 'nft -f -': { code: 1, stderr: 'Error: syntax error\n' } });
    await assert.rejects(applyFirewall(FW, f.run), (err: unknown) => err instanceof FirewallCommandError && /nft -f -: Error: syntax error/.test(err.message));
    assert.deepEqual(f.calls, ['nft -f -']);
  });

  it('rolls everything back when a routing command fails', async () => {
    const f = fakeRunner({ 'ip route add local default dev lo table 100': { code: 2, stderr: 'Error: Nexthop device is not up.\n' } });
    await assert.rejects(applyFirewall(FW, f.run), /ip route add local default dev lo table 100: Error: Nexthop device is not up\./);
    assert.deepEqual(f.calls.slice(-3), FW.down);
  });

  it('removes what exists, skips what is gone, and reports other failures after trying every step', async () => {
    const f = fakeRunner({
      'nft delete table inet sluice': { code: 1, stderr: 'Error: Could not process rule: No such file or directory\n' },
      'ip rule del fwmark 0x1 lookup 100': { code: 2, stderr: 'RTNETLINK answers: Operation not permitted\n' },
      'ip route del local default dev lo table 100': { code: 2, stderr: 'RTNETLINK answers: No such process\n' },
    });
    await assert.rejects(removeFirewall(FW, f.run), /ip rule del fwmark 0x1 lookup 100: RTNETLINK answers: Operation not permitted/);
    assert.deepEqual(f.calls, FW.down);
    const ok = fakeRunner({ 'ip route del local default dev lo table 100': { code: 2, stderr: 'RTNETLINK answers: No such process\n' } });
    assert.deepEqual(await removeFirewall(FW, ok.run), [FW.down[0], FW.down[1], `${FW.down[2]}: already absent`]);
  });

  it('spawnRunner feeds stdin and reports a missing binary as 127', async () => {
    assert.deepEqual(await spawnRunner(['cat'], 'hello\n'), { code: 0, stdout: 'hello\n', stderr: '' });
    const missing = await spawnRunner(['/nonexistent/nft', '-f', '-'], 'x');
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /ENOENT/);
  });
});
