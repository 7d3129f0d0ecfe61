#!/usr/bin/env node
'use strict';
/**
 * Memory per proxied TCP flow: a client in the client namespace
 * opens N connections through the gateway to a server in the remote that
 * holds them; the proxy's RSS (/proc/<pid>/status) before and after, divided
 * by N. Fresh proxy per measurement, after a 200-connection warm-up so that
 * lazily loaded code is in the baseline. Plain forwarding has no process to
 * measure (the kernel's socket memory is not in anyone's RSS, for proxies
 * either).
 *
 * N is 10,000 unless the open-files hard limit (not raisable without
 * CAP_SYS_RESOURCE) cannot hold that many flows: then the largest N that
 * fits, as the report says (N and the fds per flow, which are measured on
 * the warm-up flows). Default modes: sluice (the default config),
 * sluice-nosplice (`relay: { splice: false }`) and v2ray.
 *
 *   node bench/memory.js [--quick] [--reps N] [--modes sluice,sluice-nosplice,v2ray] [--connections N]
 *   node bench/memory.js --heap-snapshot [--connections N]   # where Sluice's bytes go
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseFlags, withBench, runMain, sleep, fmt } = require('./lib/harness');
const { waitListening } = require('./lib/topo');
const { machineInfo, fileLimits, processTree } = require('./lib/env');
const { makeRow, report } = require('./lib/report');
const { loadNetns } = require('./lib/topo');
const { summarizeHeap, formatGrowth } = require('./lib/heap');

const USAGE = `usage: node bench/memory.js [options]
  --connections N  connections to hold (default 9000; 2000 with --quick)
  --idle           flows send nothing (default: each exchanges a few bytes first)
  --heap-snapshot  instead of the comparison: one Sluice run with a V8 heap
                   snapshot before and after opening the flows, and the JS
                   heap growth per flow by constructor
  --prof-dir D     where the snapshots go (default a temp directory)`;

const PORT = 7000;
const PEER = path.join(__dirname, 'lib/idle-peer.js');
/** Flows exchange a few bytes before they count (issue #14 measures flows that carried data, not only idle ones). */
let EXCHANGE = true;
const WARMUP = 200;
/** Connections the client has in flight at once. */
const CONCURRENCY = 64;
/** fds kept free besides the flows': transient copies while a flow is set up (Sluice dups fds to hand them to the splice relay). */
const FD_SLACK = 2 * CONCURRENCY + 32;
const DEFAULT_MODES = ['sluice', 'sluice-nosplice', 'v2ray', 'haproxy'];
/** RSS is read after each quarter of the flows; KiB per flow is the slope through those points. */
const STEPS = 4;

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
async function openIdle(topo, server, count, proxy, alreadyOpen = 0) {
  const host = topo.addresses.remote.v4;
  const client = spawnPeer(topo, 'client', ['client', '--host', host, '--port', String(PORT), '--count', String(count), '--concurrency', String(CONCURRENCY), ...(EXCHANGE ? ['--exchange'] : [])]);
  const ready = await client.waitFor((l) => l.event === 'ready', 180_000, `${count} connections`);
  if (ready.failed > 0) {
    const counters = [];
    for (const role of ['client', 'gw', 'remote']) {
      const r = await topo.exec(role, 'nstat', ['-az'], { allowFailure: true });
      const hits = r.stdout.split('\n').filter((l) => /Rst|Reset|Overflow|Syncookie|TW|Drop|Abort/i.test(l) && !/\s0\s+0\.0$/.test(l));
      counters.push(`${role}: ${hits.map((l) => l.trim().replace(/\s+/g, ' ').replace(/ [\d.]+$/, '')).join(', ')}`);
    }
    const proxyOut = proxy?.watch ? `\n${proxy.watch.describe(8)}` : '';
    throw new Error(`${ready.failed} of ${count} connections failed (first: ${ready.firstError})\nnstat since the namespaces were made:\n${counters.join('\n')}${proxyOut}`);
  }
  await serverCount(server, (n) => n >= alreadyOpen + count, 60_000, `remote holding ${alreadyOpen + count} connections`);
  return client;
}

async function closeIdle(clients, server) {
  for (const c of [clients].flat()) await c.stop('SIGKILL');
  await serverCount(server, (n) => n === 0, 60_000, 'remote down to 0 connections');
}

/** Least-squares slope of y over x. */
function slope(points) {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  const sxy = points.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0);
  const sxx = points.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
  return sxy / sxx;
}

/**
 * Opens `n` flows in STEPS equal steps, reading the settled RSS after each;
 * returns the clients and the points [flows, KiB].
 */
async function openInSteps(topo, server, proxy, n, targets = Array.from({ length: STEPS }, (_, i) => Math.round((n * (i + 1)) / STEPS))) {
  const clients = [];
  const points = [];
  let open = 0;
  for (const target of targets) {
    clients.push(await openIdle(topo, server, target - open, proxy, open));
    open = target;
    const r = await settledRss(proxy);
    points.push([open, r.rss, r.settled]);
  }
  return { clients, points };
}

/** Preload that makes SIGUSR2 run a full GC in Sluice (see the file). */
const GC_HOOK = path.join(__dirname, 'lib/gc-hook.js');
const GC_NODE_ARGS = ['--expose-gc', '--require', GC_HOOK];

/**
 * RSS once it has stopped moving. In Sluice each reading follows a full GC
 * (SIGUSR2 through the preloaded gc-hook): without it, where the V8 heap was
 * in its GC cycle decided the result (readings jumped, and KiB per flow
 * came out negative). v2ray (Go) is read as is. Stable = less than
 * 512 KiB between the extremes of 3 s of readings.
 */
async function settledRss(proxy, maxMs = 30_000) {
  const readings = [];
  const deadline = Date.now() + maxMs;
  for (;;) {
    if (proxy.opts.gcHook) {
      // Worker processes inherit the preload with the rest of node's execArgv.
      for (const pid of processTree(proxy.pid)) process.kill(pid, 'SIGUSR2');
      await sleep(300);
    }
    readings.push(proxy.rssKiB());
    const window = readings.slice(-7);
    if (window.length === 7 && Math.max(...window) - Math.min(...window) < 512) return { rss: window[6], settled: true };
    if (Date.now() > deadline) return { rss: readings[readings.length - 1], settled: false };
    await sleep(500);
  }
}

/**
 * Opens and closes WARMUP flows (so lazily loaded code and pools count in the
 * baseline), measuring on the way how many fds the proxy holds per flow.
 */
async function warmUp(topo, server, proxy) {
  const idleFds = proxy.fdCount();
  const client = await openIdle(topo, server, WARMUP, proxy);
  await sleep(500);
  const perFlow = Math.max(2, Math.round((proxy.fdCount() - idleFds) / WARMUP));
  await closeIdle(client, server);
  return { perFlow };
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
        const { perFlow } = await warmUp(topo, server, proxy);
        const rss0 = (await settledRss(proxy)).rss;
        const snap0 = await heapSnapshot(proxy, dir);
        const n = Math.min(wanted, Math.floor((hard - proxy.fdCount() - FD_SLACK) / perFlow));
        const client = await openIdle(topo, server, n, proxy);
        const rss1 = (await settledRss(proxy)).rss;
        const snap1 = await heapSnapshot(proxy, dir);
        process.stdout.write(`Sluice RSS ${fmt(rss0)} → ${fmt(rss1)} KiB with ${n} idle flows: ${((rss1 - rss0) / n).toFixed(2)} KiB/flow (not comparable: the first snapshot's own allocations are in it; the plain run measures RSS)\nsnapshots: ${snap0} ${snap1}\n`);
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
  const flags = parseFlags(argv, { connections: { type: 'string' }, idle: { type: 'boolean', default: false }, 'heap-snapshot': { type: 'boolean', default: false }, 'prof-dir': { type: 'string' } }, USAGE);
  if (!argv.some((a) => a.startsWith('--modes'))) flags.modes = [...DEFAULT_MODES];
  flags.modes = flags.modes.filter((m) => m !== 'plain');
  const wanted = Number(flags.connections ?? (flags.quick ? 2000 : 9000));
  EXCHANGE = !flags.idle;
  const { hard } = fileLimits();
  if (flags['heap-snapshot']) return heapRun(flags, wanted, hard);
  const rows = await withBench(
    'mem',
    flags,
    [],
    async (ctx) => {
      const { topo, log } = ctx;
      const server = spawnPeer(topo, 'remote', ['server', '--host', topo.addresses.remote.v4, '--port', String(PORT)]);
      await waitListening(topo, 'remote', PORT, { watch: server });
      const samples = Object.fromEntries(flags.modes.map((m) => [m, []]));
      const measured = {};
      const unsettled = new Set();
      for (let rep = 0; rep < flags.reps; rep++) {
        const order = flags.modes.map((_, i) => flags.modes[(i + rep) % flags.modes.length]);
        for (const kind of order) {
          const sluice = kind.startsWith('sluice');
          const proxy = ctx.newProxy(kind, sluice ? { nodeArgs: GC_NODE_ARGS, gcHook: true } : {});
          await proxy.start();
          try {
            await ctx.activate(kind, proxy);
            const { perFlow } = await warmUp(topo, server, proxy);
            const before = await settledRss(proxy);
            const base = before.rss;
            const baseFds = proxy.fdCount();
            const n = Math.min(wanted, Math.floor((hard - baseFds - FD_SLACK) / perFlow));
            (measured[kind] ??= []).push({ n, perFlow });
            const { clients, points } = await openInSteps(topo, server, proxy, n);
            proxy.assertAlive();
            if (!before.settled || points.some((p) => !p[2])) unsettled.add(kind);
            const fds = proxy.fdCount();
            const per = slope(points);
            const rss = points[points.length - 1][1];
            log.info(
              `rep ${rep + 1}/${flags.reps} ${kind}: RSS ${fmt(base)} KiB, then ${points.map((p) => `${fmt(p[1])}@${p[0]}`).join(', ')} (${fds} fds): ` +
                `slope ${per.toFixed(2)} KiB/flow; (RSS(N) − RSS(0)) / N = ${((rss - base) / n).toFixed(2)}`,
            );
            samples[kind].push(per);
            await closeIdle(clients, server);
          } finally {
            await ctx.firewall.use(undefined);
            await proxy.stop();
          }
        }
      }
      // Per repetition, collapsed when every repetition saw the same.
      const nText = Object.entries(measured)
        .map(([m, xs]) => {
          const each = xs.map((x) => `${fmt(x.n)} (${x.perFlow} fds per flow)`);
          return `${m} N=${new Set(each).size === 1 ? each[0] : each.join(' / ')}`;
        })
        .join(', ');
      const limitNote = Object.values(measured).flat().some((x) => x.n < wanted)
        ? `; N < ${fmt(wanted)} where ${fmt(wanted)} flows do not fit in the open-files hard limit of ${fmt(hard)}`
        : '';
      const common = { quick: flags.quick, reps: flags.reps, extra: { connections: Object.fromEntries(Object.entries(measured).map(([m, xs]) => [m, xs.map((x) => x.n)])) } };
      const unsettledNote = unsettled.size ? `; RSS still moving after 30 s for ${[...unsettled].join(', ')}` : '';
      const note = `slope of settled RSS over flows, read at N/4, N/2, 3N/4 and N flows ${EXCHANGE ? 'that have each exchanged 18 bytes both ways' : 'that sent nothing'}: ${nText}${limitNote}${unsettledNote}`;
      const rows = [];
      if (samples.sluice) rows.push(makeRow('memory', samples, machineInfo(), { ...common, notes: note }));
      if (samples['sluice-nosplice']) {
        const alt = { ...samples, sluice: samples['sluice-nosplice'] };
        delete alt['sluice-nosplice'];
        rows.push(makeRow('memory-nosplice', alt, machineInfo(), { ...common, notes: note }));
      }
      return rows;
    },
    { startProxies: false },
  );
  report(rows, flags.write);
  return rows;
}

module.exports = { main, spawnPeer, openInSteps, warmUp, settledRss, closeIdle, slope, GC_NODE_ARGS, PORT };
if (require.main === module) runMain(main);
