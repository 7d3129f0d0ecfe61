#!/usr/bin/env node
'use strict';
/**
 * TCP throughput, 1 and 4 streams: iperf3 client in the client namespace,
 * iperf3 server in the remote, the gateway routing (plain) or proxying
 * (Sluice, v2ray). See docs/benchmarks.md.
 *
 *   node bench/tcp-throughput.js [--quick] [--reps N] [--modes plain,sluice,v2ray]
 *                                [--seconds S] [--streams 1,4] [--cpu-prof [--prof-dir D]]
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseFlags, withBench, interleave, runMain } = require('./lib/harness');
const { machineInfo } = require('./lib/env');
const { waitListening } = require('./lib/topo');
const { makeRow, report } = require('./lib/report');
const { summarizeProfile, formatSummary } = require('./lib/profile');

const USAGE = `usage: node bench/tcp-throughput.js [options]
  --seconds S      length of each iperf3 run (default 5; 2 with --quick)
  --streams LIST   parallel-stream counts to measure (default 1,4)
  --cpu-prof       instead of the comparison: one 1-stream run through Sluice
                   under node --cpu-prof, then the top self-time functions
  --prof-dir D     where the .cpuprofile goes (default a temp directory)`;

const PORT = 5201;

/** One iperf3 run; returns Gbit/s received. */
async function iperf(topo, streams, seconds) {
  const remote = topo.addresses.remote.v4;
  // -O 1: leave slow start out of the average.
  const args = ['-c', remote, '-p', String(PORT), '-t', String(seconds), '-O', '1', '-P', String(streams), '-J'];
  const r = await topo.exec('client', 'iperf3', args, { timeoutMs: (seconds + 20) * 1000, allowFailure: true });
  let j;
  try {
    j = JSON.parse(r.stdout);
  } catch {
    throw new Error(`iperf3 printed no JSON (exit ${r.code}): ${r.stderr.trim() || r.stdout.slice(0, 500)}`);
  }
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  return j.end.sum_received.bits_per_second / 1e9;
}

async function startServer(ctx) {
  const { topo } = ctx;
  topo.spawn('remote', 'iperf3', ['-s', '-B', topo.addresses.remote.v4, '-p', String(PORT)]);
  await waitListening(topo, 'remote', PORT);
}

async function compare(flags) {
  const streamsList = (flags.streams ?? '1,4').split(',').map(Number);
  const seconds = Number(flags.seconds ?? (flags.quick ? 2 : 5));
  const rows = await withBench('tcp', flags, ['iperf3'], async (ctx) => {
    await startServer(ctx);
    const out = [];
    for (const streams of streamsList) {
      ctx.log.info(`iperf3 -P ${streams}, ${seconds} s × ${flags.reps} reps × ${flags.modes.join('/')}`);
      const samples = await interleave(ctx, () => iperf(ctx.topo, streams, seconds));
      const key = streams === 1 ? 'tcp-1' : streams === 4 ? 'tcp-4' : undefined;
      if (!key) {
        ctx.log.warn(`no table row for ${streams} streams; printing only`);
        process.stdout.write(`${streams} streams: ${JSON.stringify(samples)}\n`);
        continue;
      }
      out.push(makeRow(key, samples, machineInfo(), { quick: flags.quick, reps: flags.reps, notes: `iperf3 ${seconds} s (-O 1)` }));
    }
    return out;
  });
  report(rows, flags.write);
  return rows;
}

/** One 1-stream run through Sluice under --cpu-prof; prints where the time goes. */
async function profile(flags) {
  const seconds = Number(flags.seconds ?? (flags.quick ? 2 : 5));
  const dir = flags['prof-dir'] ? path.resolve(flags['prof-dir']) : fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-cpuprof-'));
  fs.mkdirSync(dir, { recursive: true });
  const before = new Set(fs.readdirSync(dir));
  const pflags = { ...flags, modes: ['sluice'] };
  const gbps = await withBench(
    'tcpprof',
    pflags,
    ['iperf3'],
    async (ctx) => {
      await startServer(ctx);
      await ctx.activate('sluice');
      const v = await iperf(ctx.topo, 1, seconds);
      await ctx.firewall.use(undefined);
      // SIGTERM lets Sluice exit through process.exit, which writes the profile.
      await ctx.proxies.sluice.stop(30_000);
      return v;
    },
    { proxyOptions: { sluice: { nodeOptions: `--cpu-prof --cpu-prof-dir=${dir}` } } },
  );
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile') && !before.has(f));
  if (files.length === 0) throw new Error(`no .cpuprofile appeared in ${dir} (did Sluice exit cleanly on SIGTERM?)`);
  const file = path.join(dir, files.sort().pop());
  process.stdout.write(`1 stream through Sluice under --cpu-prof: ${gbps.toFixed(2)} Gbit/s\nprofile: ${file}\n`);
  process.stdout.write(formatSummary(summarizeProfile(JSON.parse(fs.readFileSync(file, 'utf8')))));
}

async function main(argv) {
  const flags = parseFlags(
    argv,
    { seconds: { type: 'string' }, streams: { type: 'string' }, 'cpu-prof': { type: 'boolean', default: false }, 'prof-dir': { type: 'string' } },
    USAGE,
  );
  if (flags['cpu-prof']) return profile(flags);
  return compare(flags);
}

module.exports = { main, iperf };
if (require.main === module) runMain(main);
