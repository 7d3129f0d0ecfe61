import { strict as assert } from 'node:assert';
import { OffloadCountersError, OffloadMonitor, parseOffloadCounters, readOffloadCounters, type CommandRunner } from '@sluice/core';
import { captureLogger } from '@sluice/core/testing';

// What nft 1.0.6 prints for `nft -j list counters table inet sluice`.
const NFT_JSON = JSON.stringify({
  nftables: [
    { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
    { counter: { family: 'inet', name: 'offload_up', table: 'sluice', handle: 3, packets: 12, bytes: 3400 } },
    { counter: { family: 'inet', name: 'offload_down', table: 'sluice', handle: 4, packets: 10, bytes: 56000 } },
  ],
});

const runner = (code: number, stdout: string, stderr = ''): { run: CommandRunner; argv: string[][] } => {
  const argv: string[][] = [];
  return {
    argv,
    run: async (a) => {
      argv.push([...a]);
      return { code, stdout, stderr };
    },
  };
};

describe('firewall: offload counters', () => {
  it('parses both counters out of nft -j list counters', () => {
    assert.deepEqual(parseOffloadCounters(NFT_JSON), { up: { packets: 12, bytes: 3400 }, down: { packets: 10, bytes: 56000 } });
  });

  it('says what to do when the table was rendered without offload, or nft printed something else', () => {
    const noDown = JSON.stringify({ nftables: [{ counter: { name: 'offload_up', packets: 1, bytes: 2 } }] });
    assert.throws(() => parseOffloadCounters(noDown), (e: Error) => e instanceof OffloadCountersError && /no counter offload_down: load a ruleset rendered with firewall.offload: true/.test(e.message));
    assert.throws(() => parseOffloadCounters('Error: garbage'), /printed no JSON/);
    assert.throws(() => parseOffloadCounters('{}'), /no "nftables" list/);
  });

  it('runs nft -j list counters on table inet sluice, and names the fix when it fails', async () => {
    const ok = runner(0, NFT_JSON);
    assert.equal((await readOffloadCounters(ok.run)).down.bytes, 56000);
    assert.deepEqual(ok.argv, [['nft', '-j', 'list', 'counters', 'table', 'inet', 'sluice']]);
    const missing = runner(1, '', 'Error: No such file or directory\nlist counters table inet sluice\n');
    await assert.rejects(readOffloadCounters(missing.run), (e: Error & { code?: string }) => e.code === 'ERR_OFFLOAD_COUNTERS' && /sluice rules --apply/.test(e.message));
    await assert.rejects(readOffloadCounters(runner(127, '', 'nft: spawn nft ENOENT').run), /nft \(nftables\) is not installed/);
    await assert.rejects(readOffloadCounters(runner(1, '', 'Operation not permitted').run), /CAP_NET_ADMIN/);
  });

  it('OffloadMonitor logs "offload totals" at stop and warns, without failing, when the counters cannot be read', async () => {
    const { logger, lines } = captureLogger('info');
    const good = new OffloadMonitor(logger, () => readOffloadCounters(runner(0, NFT_JSON).run));
    assert.ok(await good.check());
    await good.logTotals();
    const totals = lines.find((l) => l.msg === 'offload totals');
    assert.ok(totals, JSON.stringify(lines));
    assert.deepEqual([totals.up, totals.down], [{ packets: 12, bytes: 3400 }, { packets: 10, bytes: 56000 }]);

    const bad = new OffloadMonitor(logger, () => readOffloadCounters(runner(1, '', 'Error: No such file or directory').run));
    assert.equal(await bad.check(), undefined);
    assert.equal(await bad.logTotals(), undefined);
    const warnings = lines.filter((l) => l.level === 'warn').map((l) => l.msg);
    assert.deepEqual(warnings, ['firewall.offload is on, but the offload counters cannot be read; offloaded flows go uncounted until they can', 'offload totals unavailable']);
  });
});
