#!/usr/bin/env node
'use strict';
/**
 * DNS over UDP: dnsperf -c 4 in the client namespace against dnsmasq in the
 * remote, which answers bench.test names itself (no upstream). Plain
 * forwarding vs Sluice vs v2ray, interleaved. See docs/benchmarks.md.
 *
 *   node bench/dns.js [--quick] [--reps N] [--modes …] [--seconds S] [--clients C]
 *                     [--cpu-prof [--perf] [--prof-dir D]]
 */
const fs = require('node:fs');
const path = require('node:path');
const { parseFlags, withBench, interleave, execWithCpu, runMain, fmt } = require('./lib/harness');
const { waitListening } = require('./lib/topo');
const { machineInfo } = require('./lib/env');
const { makeRow, report } = require('./lib/report');
const { profileSluice, PROFILE_OPTIONS, PROFILE_HELP } = require('./lib/profile');

const USAGE = `usage: node bench/dns.js [options]
  --seconds S      length of each dnsperf run (default 5; 2 with --quick)
  --clients C      dnsperf -c (default 4)
${PROFILE_HELP}`;

const QUERY_NAMES = 1000;

/** Parses dnsperf's summary. */
function parseDnsperf(text) {
  const num = (re) => Number(re.exec(text)?.[1]);
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
  };
}

/** dnsmasq in the remote, answering bench.test itself; and a query file of bench.test names. */
async function startDns(ctx) {
  const { topo, workdir } = ctx;
  const server = topo.addresses.remote.v4;
  const dnsmasq = topo.spawn('remote', 'dnsmasq', [
    '--keep-in-foreground',
    '--no-resolv',
    '--no-hosts',
    '--bind-interfaces',
    `--listen-address=${server}`,
    '--port=53',
    '--address=/bench.test/192.0.2.1',
    '--pid-file=',
    '--user=root',
    '--log-facility=-',
  ]);
  await waitListening(topo, 'remote', 53, { proto: 'udp' });
  const qfile = path.join(workdir, 'queries.txt');
  fs.writeFileSync(qfile, Array.from({ length: QUERY_NAMES }, (_, i) => `q${i}.bench.test A\n`).join(''));
  return { dnsmasq, qfile };
}

/** One dnsperf run from the client namespace; the parsed summary plus `cpu`, dnsperf's % of a core. */
async function dnsperf(ctx, qfile, clients, seconds) {
  const args = ['-s', ctx.topo.addresses.remote.v4, '-d', qfile, '-c', String(clients), '-l', String(seconds)];
  const { result: r, cpu } = await execWithCpu(ctx, 'client', 'dnsperf', args, { timeoutMs: (seconds + 30) * 1000, allowFailure: true });
  const p = parseDnsperf(r.stdout);
  if (!(p.qps > 0)) throw new Error(`dnsperf answered nothing (exit ${r.code}):\n${r.stdout}${r.stderr}`);
  return { ...p, cpu };
}

async function main(argv) {
  const flags = parseFlags(argv, { seconds: { type: 'string' }, clients: { type: 'string' }, ...PROFILE_OPTIONS }, USAGE);
  const seconds = Number(flags.seconds ?? (flags.quick ? 2 : 5));
  const clients = Number(flags.clients ?? 4);
  if (flags['cpu-prof']) {
    return profileSluice('dnsprof', flags, ['dnsperf', 'dnsmasq'], async (ctx) => {
      const { qfile } = await startDns(ctx);
      return async () => {
        const p = await dnsperf(ctx, qfile, clients, seconds);
        return { qps: p.qps, text: `dnsperf -c ${clients} through Sluice under --cpu-prof: ${fmt(p.qps)} qps, ${p.lost} of ${p.sent} lost` };
      };
    });
  }
  const lostNotes = [];
  const rows = await withBench('dns', flags, ['dnsperf', 'dnsmasq'], async (ctx) => {
    const { topo, log } = ctx;
    const { dnsmasq, qfile } = await startDns(ctx);
    log.info(`dnsperf -c ${clients}, ${seconds} s × ${flags.reps} reps × ${flags.modes.join('/')}`);
    const samples = await interleave(ctx, async (mode) => {
      const p = await dnsperf(ctx, qfile, clients, seconds);
      if (p.lost > 0) lostNotes.push(`${mode} lost ${p.lost}/${p.sent}`);
      return { value: p.qps, cpu: { dnsperf: p.cpu } };
    }, { watchPids: { dnsmasq: dnsmasq.pid } });
    return [makeRow('dns', samples, machineInfo(), {
      quick: flags.quick,
      reps: flags.reps,
      notes: `dnsperf -c ${clients} -l ${seconds}, ${QUERY_NAMES} names${lostNotes.length ? `; ${lostNotes.join(', ')}` : ''}`,
    })];
  });
  report(rows, flags.write);
  return rows;
}

module.exports = { main, parseDnsperf };
if (require.main === module) runMain(main);
