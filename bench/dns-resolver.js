#!/usr/bin/env node
'use strict';
/**
 * The built-in DNS resolver's queries per second, on loopback, all in one run:
 *   upstream    dnsperf straight at dnsmasq (the ceiling: what the upstream answers);
 *   warm cache  dnsperf at Sluice's resolver after every name has been asked once;
 *   cache miss  dnsperf at a resolver with `cache.size: 0`, so each query goes to dnsmasq;
 *   miss, tcp   the same through a `tcp://` upstream (queries pipelined on reused connections).
 * dnsmasq answers bench.test names itself, with query logging off (with logging it
 * is the bottleneck), with a 300 s TTL so answers can be cached. Prints each row and its ratio to the upstream row.
 *
 *   node bench/dns-resolver.js [--seconds S] [--clients C] [--reps N]
 */
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const pino = require('pino');
const { DnsService, parseConfig } = require('@sluice/core');

const NAMES = 1000;
const UPSTREAM_PORT = 15353;
const WARM_PORT = 15354;
const MISS_PORT = 15355;
const MISS_TCP_PORT = 15356;

function dnsConfig(port, cacheSize, scheme = 'udp') {
  const doc = {
    inbounds: [{ tag: 'in', type: 'tproxy', listen: '127.0.0.1', port: 15001 }],
    outbounds: [{ tag: 'direct', type: 'direct' }],
    dns: { listen: [`127.0.0.1:${port}`], upstreams: [`${scheme}://127.0.0.1:${UPSTREAM_PORT}`], cache: { size: cacheSize } },
  };
  return parseConfig(JSON.stringify(doc), { baseDir: '/', format: 'json' }).dns;
}

function dnsperf(port, qfile, clients, seconds) {
  return new Promise((resolve, reject) => {
    const p = spawn('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', qfile, '-c', String(clients), '-l', String(seconds)]);
    let out = '';
    p.stdout.on('data', (c) => (out += c));
    p.stderr.on('data', (c) => (out += c));
    p.on('error', reject);
    p.on('close', () => {
      const qps = Number(/Queries per second:\s+([\d.]+)/.exec(out)?.[1]);
      const lost = Number(/Queries lost:\s+(\d+)/.exec(out)?.[1] ?? 0);
      if (!(qps > 0)) reject(new Error(`dnsperf answered nothing:\n${out}`));
      else resolve({ qps, lost });
    });
  });
}

async function main() {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, clients: { type: 'string' }, reps: { type: 'string' } } });
  const seconds = Number(values.seconds ?? 5);
  const clients = Number(values.clients ?? 4);
  const reps = Number(values.reps ?? 3);
  for (const cmd of ['dnsperf', 'dnsmasq']) execFileSync('sh', ['-c', `command -v ${cmd} || [ -x /usr/sbin/${cmd} ]`], { stdio: 'ignore' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-dns-bench-'));
  const qfile = path.join(dir, 'queries.txt');
  fs.writeFileSync(qfile, Array.from({ length: NAMES }, (_, i) => `q${i}.bench.test A\n`).join(''));
  const dnsmasq = spawn('dnsmasq', ['--keep-in-foreground', '--no-resolv', '--no-hosts', '--bind-interfaces', '--listen-address=127.0.0.1', `--port=${UPSTREAM_PORT}`, '--address=/bench.test/192.0.2.1', '--pid-file=', '--user=root', '--cache-size=0', '--local-ttl=300'], { stdio: 'ignore' });
  const logger = pino({ level: 'silent' });
  const warm = new DnsService(dnsConfig(WARM_PORT, 4096), { logger, outbound: () => undefined, baseDir: dir });
  const miss = new DnsService(dnsConfig(MISS_PORT, 0), { logger, outbound: () => undefined, baseDir: dir });
  const missTcp = new DnsService(dnsConfig(MISS_TCP_PORT, 0, 'tcp'), { logger, outbound: () => undefined, baseDir: dir });
  try {
    await new Promise((r) => setTimeout(r, 500));
    await warm.start();
    await miss.start();
    await missTcp.start();
    await dnsperf(WARM_PORT, qfile, 1, 1); // every name asked once: the cache is warm
    const rows = { upstream: [], 'warm cache': [], 'cache miss': [], 'miss, tcp': [] };
    for (let rep = 0; rep < reps; rep++) {
      rows.upstream.push((await dnsperf(UPSTREAM_PORT, qfile, clients, seconds)).qps);
      rows['warm cache'].push((await dnsperf(WARM_PORT, qfile, clients, seconds)).qps);
      for (const [row, port] of [['cache miss', MISS_PORT], ['miss, tcp', MISS_TCP_PORT]]) {
        const m = await dnsperf(port, qfile, clients, seconds);
        rows[row].push(m.qps);
        if (m.lost) console.log(`${row} lost ${m.lost}`);
      }
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const base = median(rows.upstream);
    console.log(`dnsperf -c ${clients} -l ${seconds}, ${NAMES} names, median of ${reps}; ${os.cpus().length} CPUs, node ${process.version}`);
    for (const [name, xs] of Object.entries(rows)) {
      const m = median(xs);
      console.log(`${name.padEnd(11)} ${String(Math.round(m)).padStart(8)} q/s  ${(m / base).toFixed(2)}x upstream  (runs: ${xs.map(Math.round).join(', ')})`);
    }
    console.log(`counters (warm): ${JSON.stringify(warm.counters)}`);
  } finally {
    await warm.close();
    await miss.close();
    await missTcp.close();
    dnsmasq.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
