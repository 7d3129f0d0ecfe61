'use strict';
/**
 * The benchmark topology: the test bed's client ─ gw ─ remote namespaces
 * (`@sluice/testbed`), with the sysctls the benchmarks need, torn down on
 * exit, on error and on Ctrl-C.
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '../..');
const TESTBED_DIST = path.join(ROOT, 'packages/testbed/dist/index.js');

/** The test bed (`@sluice/testbed`), building it (and core, which it references) first when it is missing. */
function loadNetns() {
  if (!fs.existsSync(TESTBED_DIST)) {
    process.stderr.write('bench: building packages/testbed (npx tsc -b packages/testbed)\n');
    try {
      execFileSync('npx', ['tsc', '-b', 'packages/testbed'], { cwd: ROOT, stdio: 'inherit' });
    } catch {
      // Errors in files unrelated to the test bed still leave its output behind; check below.
    }
  }
  if (!fs.existsSync(TESTBED_DIST)) throw new Error(`${TESTBED_DIST} is missing; build the workspace first (npx tsc -b)`);
  return require('@sluice/testbed');
}

/**
 * Creates a topology named after the benchmark and this pid, so parallel runs
 * (and other people's tests) never share namespaces.
 */
async function createBenchTopology(name, log) {
  const netns = loadNetns();
  const prefix = `b${name.slice(0, 6)}${process.pid}`.slice(0, 24);
  const topo = await netns.createTopology({ prefix, log: log.debug });
  topo.destroyOnExit();
  log.info(`topology ${topo.names.client} ─ ${topo.names.gw} ─ ${topo.names.remote}`);
  for (const role of ['client', 'gw']) {
    // Connection-rate runs open a flow per request (`node bench/conn-rate.js -v`
    // prints wrk's counts); TIME_WAIT from the last run must not run the client
    // (or Sluice's outbound side) out of ports.
    await topo.exec(role, 'sysctl', ['-qw', 'net.ipv4.ip_local_port_range=1024 65535', 'net.ipv4.tcp_tw_reuse=1']);
  }
  for (const role of ['client', 'gw', 'remote']) {
    // Default is 4096 on this kernel; wrk and the 10k-connection test need deeper accept queues.
    await topo.exec(role, 'sysctl', ['-qw', 'net.core.somaxconn=65535', 'net.ipv4.tcp_max_syn_backlog=65535']);
  }
  return topo;
}

/** Polls `ss` until something in `role` listens on `port` (`tcp` or `udp`), failing early if `watch` exits. */
async function waitListening(topo, role, port, { proto = 'tcp', watch, timeoutMs = 15_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await topo.exec(role, 'ss', ['-Hln', proto === 'tcp' ? '-t' : '-u', `sport = :${port}`], { allowFailure: true });
    if (r.stdout.trim()) return;
    if (watch?.exitStatus) throw new Error(`${watch.label} exited before listening on ${port}\n${watch.describe(20)}`);
    if (Date.now() > deadline) {
      throw new Error(`nothing listens on ${proto}/${port} in ${topo.names[role]} after ${timeoutMs} ms${watch ? `\n${watch.describe(20)}` : ''}`);
    }
    await sleep(100);
  }
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

module.exports = { ROOT, loadNetns, createBenchTopology, waitListening, sleep };
