#!/usr/bin/env node
'use strict';
/**
 * TCP throughput, 1 and 4 streams: iperf3 client in the client namespace,
 * iperf3 server in the remote, the gateway routing (plain) or proxying
 * (Sluice, v2ray). See docs/benchmarks.md.
 *
 *   node bench/tcp-throughput.js [--quick] [--reps N] [--modes plain,sluice,sluice-sniff,sluice-offload,v2ray]
 *                                [--seconds S] [--streams 1,4] [--cpu-prof [--prof-dir D]]
 */
const { TCP_MODES, parseFlags, withBench, interleave, execWithCpu, runMain } = require('./lib/harness');
const { machineInfo } = require('./lib/env');
const { waitListening } = require('./lib/topo');
const { makeRow, report } = require('./lib/report');
const { profileSluice, PROFILE_OPTIONS, PROFILE_HELP } = require('./lib/profile');

const USAGE = `usage: node bench/tcp-throughput.js [options]
  --seconds S      length of each iperf3 run (default 5; 2 with --quick)
  --streams LIST   parallel-stream counts to measure (default 1,4)
${PROFILE_HELP} (1 stream)`;

const PORT = 5201;

/** One iperf3 run; returns { value: Gbit/s received, cpu: { client: % of a core } }. */
async function iperf(ctx, streams, seconds) {
  const remote = ctx.topo.addresses.remote.v4;
  // -O 1: leave slow start out of the average.
  const args = ['-c', remote, '-p', String(PORT), '-t', String(seconds), '-O', '1', '-P', String(streams), '-J'];
  const { result: r, cpu } = await execWithCpu(ctx, 'client', 'iperf3', args, { timeoutMs: (seconds + 20) * 1000, allowFailure: true });
  let j;
  try {
    j = JSON.parse(r.stdout);
  } catch {
    throw new Error(`iperf3 printed no JSON (exit ${r.code}): ${r.stderr.trim() || r.stdout.slice(0, 500)}`);
  }
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  return { value: j.end.sum_received.bits_per_second / 1e9, cpu: { 'iperf3 client': cpu } };
}

async function startServer(ctx) {
  const { topo } = ctx;
  const server = topo.spawn('remote', 'iperf3', ['-s', '-B', topo.addresses.remote.v4, '-p', String(PORT)]);
  await waitListening(topo, 'remote', PORT);
  return server;
}

async function compare(flags) {
  const streamsList = (flags.streams ?? '1,4').split(',').map(Number);
  const seconds = Number(flags.seconds ?? (flags.quick ? 2 : 5));
  const rows = await withBench('tcp', flags, ['iperf3'], async (ctx) => {
    const server = await startServer(ctx);
    const out = [];
    for (const streams of streamsList) {
      ctx.log.info(`iperf3 -P ${streams}, ${seconds} s × ${flags.reps} reps × ${flags.modes.join('/')}`);
      const samples = await interleave(ctx, () => iperf(ctx, streams, seconds), { watchPids: { 'iperf3 server': server.pid } });
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
function profile(flags) {
  const seconds = Number(flags.seconds ?? (flags.quick ? 2 : 5));
  return profileSluice('tcpprof', flags, ['iperf3'], async (ctx) => {
    await startServer(ctx);
    return async () => {
      const r = await iperf(ctx, 1, seconds);
      return { gbps: r.value, text: `1 stream through Sluice under --cpu-prof: ${r.value.toFixed(2)} Gbit/s (iperf3 client ${r.cpu['iperf3 client']}% of a core)` };
    };
  });
}

async function main(argv) {
  const flags = parseFlags(
    argv,
    { seconds: { type: 'string' }, streams: { type: 'string' }, ...PROFILE_OPTIONS },
    USAGE,
    // By default the TCP rows also measure an inbound with `sniff: true` (mode sluice-sniff), next to the one without,
    // and firewall.offload (mode sluice-offload: the kernel forwards the flows).
    [...TCP_MODES, 'sluice-sniff', 'sluice-offload'],
  );
  if (flags['cpu-prof']) return profile(flags);
  return compare(flags);
}

module.exports = { main, iperf };
if (require.main === module) runMain(main);
