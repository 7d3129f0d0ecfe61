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
 */
const path = require('node:path');
const { parseFlags, withBench, runMain, sleep, fmt } = require('./lib/harness');
const { waitListening } = require('./lib/topo');
const { machineInfo, fileLimits } = require('./lib/env');
const { makeRow, report } = require('./lib/report');
const { loadNetns } = require('./lib/topo');

const USAGE = `usage: node bench/memory.js [options]
  --connections N  idle connections to hold (default 10000; 2000 with --quick)`;

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

async function main(argv) {
  const flags = parseFlags(argv, { connections: { type: 'string' } }, USAGE);
  flags.modes = flags.modes.filter((m) => m !== 'plain');
  const wanted = Number(flags.connections ?? (flags.quick ? 2000 : 10_000));
  const { hard } = fileLimits();
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
