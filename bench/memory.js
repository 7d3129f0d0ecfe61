#!/usr/bin/env node
'use strict';
/**
 * Memory per idle proxied TCP connection: a client in the client namespace
 * opens N connections through the gateway to a server in the remote that
 * holds them; the proxy's RSS (/proc/<pid>/status) before and after, divided
 * by N. Fresh proxy per measurement, after a 200-connection warm-up so that
 * lazily loaded code is in the baseline. Plain forwarding has no process to
 * measure (the kernel's socket memory is not in anyone's RSS, for proxies
 * either).
 *
 * N is 10,000 unless the open-files hard limit (20,000 here, not raisable
 * without CAP_SYS_RESOURCE) cannot hold 2 fds per flow plus the proxy's own:
 * then the largest N that fits, as the report says.
 *
 *   node bench/memory.js [--quick] [--reps N] [--modes sluice,v2ray] [--connections N]
 *   node bench/memory.js --heap-snapshot [--connections N]   # where Sluice's bytes go
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseFlags, withBench, runMain, sleep, fmt } = require('./lib/harness');
const { waitListening } = require('./lib/topo');
const { machineInfo, fileLimits } = require('./lib/env');
const { makeRow, report } = require('./lib/report');
const { loadNetns } = require('./lib/topo');
const { summarizeHeap, formatGrowth } = require('./lib/heap');

const USAGE = `usage: node bench/memory.js [options]
  --connections N  idle connections to hold (default 10000; 2000 with --quick)
  --heap-snapshot  instead of the comparison: one Sluice run with a V8 heap
                   snapshot before and after opening the flows, and the JS
                   heap growth per flow by constructor
  --prof-dir D     where the snapshots go (default a temp directory)`;

const PORT = 7000;
const PEER = path.join(__dirname, 'lib/idle-peer.js');
const WARMUP = 200;
/** fds a proxy needs besides 2 per flow (listeners, epoll, stdio, pipes) plus slack. */
const FD_SLACK = 32;

function spawnPeer(topo, role, args) {
  const { ChildWatch } = loadNetns();
  const child = topo.spawn(role, process.execPath, [PEER, ...args]);
  return new ChildWatch(child, `idle-peer ${args[0]} in ${topo.names[role]}`);
}

/** Waits until the holder in the remote reports `pred(open)`. */
function serverCount(server, pred, timeoutMs, what) {
  return server.waitUntil(
    () => {
      const last = [...server.lines].reverse().find((l) => l.event === 'count');
      return last && pred(last.open) ? last.open : undefined;
    },
    timeoutMs,
    what,
  );
}

/** Opens `count` connections from the client namespace and waits until the remote holds them all. */
async function openIdle(topo, server, count) {
  const host = topo.addresses.remote.v4;
  const client = spawnPeer(topo, 'client', ['client', '--host', host, '--port', String(PORT), '--count', String(count)]);
  const ready = await client.waitFor((l) => l.event === 'ready', 180_000, `${count} connections`);
  if (ready.failed > 0) throw new Error(`${ready.failed} of ${count} connections failed (first: ${ready.firstError})`);
  await serverCount(server, (n) => n >= count, 60_000, `remote holding ${count} connections`);
  return client;
}

async function closeIdle(client, server) {
  await client.stop('SIGKILL');
  await serverCount(server, (n) => n === 0, 60_000, 'remote down to 0 connections');
}

/** Sends SIGUSR2 to a Sluice started with --heapsnapshot-signal and waits until the new snapshot is written. */
async function heapSnapshot(proxy, dir) {
  const before = new Set(fs.readdirSync(dir));
  process.kill(proxy.pid, 'SIGUSR2');
  const deadline = Date.now() + 120_000;
  let last = -1;
  for (;;) {
    await sleep(1000);
    const f = fs.readdirSync(dir).find((x) => x.endsWith('.heapsnapshot') && !before.has(x));
    const size = f ? fs.statSync(path.join(dir, f)).size : -1;
    if (f && size > 0 && size === last) return path.join(dir, f);
    last = size;
    if (Date.now() > deadline) throw new Error(`no heap snapshot from pid ${proxy.pid} in ${dir}`);
  }
}

/** One Sluice run: heap snapshots before and after opening the flows, growth per flow by constructor. */
async function heapRun(flags, wanted, hard) {
  const dir = flags['prof-dir'] ? path.resolve(flags['prof-dir']) : fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-heap-'));
  fs.mkdirSync(dir, { recursive: true });
  const nodeArgs = ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`];
  await withBench(
    'memheap',
    { ...flags, modes: ['sluice'] },
    [],
    async (ctx) => {
      const { topo } = ctx;
      const server = spawnPeer(topo, 'remote', ['server', '--host', topo.addresses.remote.v4, '--port', String(PORT)]);
      await waitListening(topo, 'remote', PORT, { watch: server });
      const proxy = ctx.newProxy('sluice', { nodeArgs });
      await proxy.start();
      try {
        await ctx.activate('sluice', proxy);
        await closeIdle(await openIdle(topo, server, WARMUP), server);
        await sleep(2000);
        const rss0 = proxy.rssKiB();
        const snap0 = await heapSnapshot(proxy, dir);
        const n = Math.min(wanted, Math.floor((hard - proxy.fdCount() - FD_SLACK) / 2));
        const client = await openIdle(topo, server, n);
        await sleep(3000);
        const rss1 = proxy.rssKiB();
        const snap1 = await heapSnapshot(proxy, dir);
        process.stdout.write(`Sluice RSS ${fmt(rss0)} → ${fmt(rss1)} KiB with ${n} idle flows: ${((rss1 - rss0) / n).toFixed(2)} KiB/flow (a snapshot was taken in between, so this is a lower bound)\nsnapshots: ${snap0} ${snap1}\n`);
        process.stdout.write(formatGrowth(summarizeHeap(snap0), summarizeHeap(snap1), n));
        await closeIdle(client, server);
      } finally {
        await ctx.firewall.use(undefined);
        await proxy.stop();
      }
    },
    { startProxies: false },
  );
}

async function main(argv) {
  const flags = parseFlags(argv, { connections: { type: 'string' }, 'heap-snapshot': { type: 'boolean', default: false }, 'prof-dir': { type: 'string' } }, USAGE);
  flags.modes = flags.modes.filter((m) => m !== 'plain');
  const wanted = Number(flags.connections ?? (flags.quick ? 2000 : 10_000));
  const { hard } = fileLimits();
  if (flags['heap-snapshot']) return heapRun(flags, wanted, hard);
  const notes = [];
  const rows = await withBench(
    'mem',
    flags,
    [],
    async (ctx) => {
      const { topo, log } = ctx;
      const server = spawnPeer(topo, 'remote', ['server', '--host', topo.addresses.remote.v4, '--port', String(PORT)]);
      await waitListening(topo, 'remote', PORT, { watch: server });
      const samples = Object.fromEntries(flags.modes.map((m) => [m, []]));
      let measuredN;
      for (let rep = 0; rep < flags.reps; rep++) {
        const order = flags.modes.map((_, i) => flags.modes[(i + rep) % flags.modes.length]);
        for (const kind of order) {
          const proxy = ctx.newProxy(kind);
          await proxy.start();
          try {
            await ctx.activate(kind, proxy);
            await closeIdle(await openIdle(topo, server, WARMUP), server);
            await sleep(2000);
            const base = proxy.rssKiB();
            const baseFds = proxy.fdCount();
            const n = Math.min(wanted, Math.floor((hard - baseFds - FD_SLACK) / 2));
            if (n < wanted && !notes.some((x) => x.startsWith('N='))) {
              notes.push(`N=${n}, not ${wanted}: open-files hard limit ${hard} must hold 2 fds per flow plus ${baseFds} of the proxy's own`);
            }
            const client = await openIdle(topo, server, n);
            await sleep(3000);
            proxy.assertAlive();
            const rss = proxy.rssKiB();
            const fds = proxy.fdCount();
            const per = (rss - base) / n;
            log.info(`rep ${rep + 1}/${flags.reps} ${kind}: RSS ${fmt(base)} → ${fmt(rss)} KiB with ${n} idle flows (${fds} fds): ${per.toFixed(2)} KiB/flow`);
            samples[kind].push(per);
            measuredN = n;
            await closeIdle(client, server);
          } finally {
            await ctx.firewall.use(undefined);
            await proxy.stop();
          }
        }
      }
      return [
        makeRow('memory', samples, machineInfo(), {
          quick: flags.quick,
          reps: flags.reps,
          notes: [`(RSS after − RSS before) / N at N=${measuredN} idle flows`, ...notes].join('; '),
          extra: { connections: measuredN },
        }),
      ];
    },
    { startProxies: false },
  );
  report(rows, flags.write);
  return rows;
}

module.exports = { main };
if (require.main === module) runMain(main);
