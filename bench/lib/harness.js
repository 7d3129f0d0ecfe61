'use strict';
/**
 * What every benchmark script shares: flags, logging, the topology's
 * lifetime, A/B interleaving of the modes, medians.
 */
const { parseArgs } = require('node:util');
const fs = require('node:fs');
const path = require('node:path');
const { assertRoot, ensureTools, processTree } = require('./env');
const { createBenchTopology, sleep } = require('./topo');
const { FORWARDING_MODES, GatewayFirewall, ProxyProcess, makeWorkdir } = require('./proxies');

/** Default modes: the comparison issue #4 asks for. */
const ALL_MODES = ['plain', 'sluice', 'v2ray'];
/** Default modes of the TCP workloads, which HAProxy (a TCP-only peer) also runs (issue #14). */
const TCP_MODES = [...ALL_MODES, 'haproxy'];
/** Opt-in modes: Sluice variants (see SLUICE_VARIANTS in proxies.js), and HAProxy where it is not a default. */
const EXTRA_MODES = ['haproxy', 'sluice-nosplice', 'sluice-workers', 'sluice-info', 'sluice-base', 'sluice-sniff', 'sluice-offload', 'node-floor', 'sluice-threads'];

const COMMON_OPTIONS = {
  quick: { type: 'boolean', default: false },
  reps: { type: 'string' },
  modes: { type: 'string' },
  write: { type: 'boolean' },
  'no-write': { type: 'boolean', default: false },
  verbose: { type: 'boolean', short: 'v', default: false },
  help: { type: 'boolean', short: 'h', default: false },
};

const COMMON_HELP = `  --quick          smoke run: 1 repetition, short durations, results not written
  --reps N         repetitions per mode (default 3; 1 with --quick)
  --modes LIST     comma-separated, from plain,sluice,v2ray (the default;
                   the TCP workloads add haproxy) and
                   the Sluice variants sluice-nosplice (relay.splice: false)
                   and sluice-workers (workers: auto), sluice-threads
                   (workers: auto, worker_mode: thread), sluice-info
                   (log level info: an access-log line per flow, to a file)
                   and sluice-base (this config run by the build that
                   SLUICE_BASE_BIN names: before/after in one run),
                   sluice-sniff (the inbound with sniff: true; part of
                   tcp-throughput.js's default), sluice-offload
                   (firewall.offload with the remote sent to direct by the
                   first rule: the kernel forwards the flows; part of the
                   TCP workloads' default), node-floor (TCP only:
                   bench/lib/node-floor.js, Sluice's native accept and
                   connect-and-splice with nothing else, the floor of a
                   Node proxy)
  --write          write docs/benchmarks.md even with --quick
  --no-write       print only
  -v, --verbose    log every setup command`;

/** Parses argv with the common flags plus `extra` (parseArgs option specs); `defaults` are the modes without --modes. */
function parseFlags(argv, extra = {}, usage = '', defaults = ALL_MODES) {
  const { values } = parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...extra }, allowPositionals: false });
  if (values.help) {
    process.stdout.write(`${usage}\n${COMMON_HELP}\n`);
    process.exit(0);
  }
  const modes = values.modes ? values.modes.split(',').map((m) => m.trim()) : [...defaults];
  for (const m of modes) {
    if (!ALL_MODES.includes(m) && !EXTRA_MODES.includes(m)) throw new Error(`unknown mode ${m} (${[...ALL_MODES, ...EXTRA_MODES].join(', ')})`);
  }
  const reps = values.reps ? Number(values.reps) : values.quick ? 1 : 3;
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive integer`);
  const write = values.write ?? (!values.quick && !values['no-write']);
  return { ...values, modes, reps, write };
}

function makeLog(name, verbose) {
  const stamp = () => new Date().toISOString().slice(11, 19);
  const line = (lvl) => (msg) => process.stderr.write(`${stamp()} [${name}]${lvl} ${msg}\n`);
  return { info: line(''), warn: line(' WARN'), debug: verbose ? line(' debug') : () => undefined };
}

/**
 * Builds the topology, starts the proxies the selected modes need, runs
 * `body(ctx)` and tears everything down whatever happens (errors, Ctrl-C).
 * ctx: { topo, log, flags, firewall, proxies: { sluice?, v2ray? }, activate(mode), workdir }.
 */
async function withBench(name, flags, tools, body, { proxyOptions = {}, startProxies = true } = {}) {
  assertRoot();
  const log = makeLog(name, flags.verbose);
  ensureTools(['ip', 'nft', 'ss', 'prlimit', 'conntrack', ...tools, ...flags.modes.filter((m) => m === 'v2ray' || m === 'haproxy')], log.info);
  const workdir = makeWorkdir(name);
  const rmWorkdir = () => fs.rmSync(workdir, { recursive: true, force: true });
  process.once('exit', rmWorkdir);
  const topo = await createBenchTopology(name, log);
  const firewall = new GatewayFirewall(topo, workdir, log);
  const proxies = {};
  const ctx = {
    topo,
    log,
    flags,
    firewall,
    proxies,
    workdir,
    /** Creates (does not start) the proxy process for a mode. */
    newProxy(kind, opts = {}) {
      return new ProxyProcess(topo, kind, workdir, log, { ...proxyOptions[kind], ...opts });
    },
    /**
     * Empties the gateway's conntrack table. A ruleset that matches on ct
     * state makes the gateway track every proxied flow (two entries each:
     * client leg and outbound leg, TIME_WAIT entries live 120 s); at the
     * connection benchmark's rates the table (`nf_conntrack_max` entries)
     * fills and new flows are dropped. Flushing before each run keeps runs
     * independent of the ones before. Returns how many entries there were.
     */
    async flushConntrack() {
      const count = await conntrackCount(topo);
      if (count > 0) await topo.exec('gw', 'conntrack', ['-F'], { allowFailure: true });
      return count;
    },
    /** Routes the gateway for `mode`, checking that its proxy still runs. */
    async activate(mode, proxy = proxies[mode]) {
      if (mode === 'plain') return firewall.use(undefined);
      proxy.assertAlive();
      return firewall.use(proxy.port);
    },
  };
  try {
    if (startProxies) {
      for (const kind of flags.modes) {
        if (kind === 'plain') continue;
        proxies[kind] = ctx.newProxy(kind);
        await proxies[kind].start();
      }
    }
    return await body(ctx);
  } finally {
    for (const p of Object.values(proxies)) await p.stop().catch(() => undefined);
    await topo.destroy();
    rmWorkdir();
  }
}

/**
 * Runs a command in a namespace like `topo.exec`, and also returns the CPU it
 * used (user+system of it and its children, in % of one core over its
 * lifetime): a wrapping shell reads its own cutime/cstime once the command
 * has been reaped. Used for the load generators (iperf3 -c, dnsperf, wrk),
 * which would otherwise be the one unmeasured CPU consumer.
 */
async function execWithCpu(ctx, role, cmd, args, opts = {}) {
  const statFile = path.join(ctx.workdir, `stat-${process.hrtime.bigint()}`);
  const script = 'f=$1; shift; "$@"; rc=$?; cat /proc/$$/stat > "$f"; exit $rc';
  const t0 = Date.now();
  // The command gets its own deadline, a little inside the exec's: when the exec's timer kills the shell, a
  // command still running (iperf3 -P 100 can spin forever) would hold the output pipe open, and nothing ends.
  const deadline = opts.timeoutMs === undefined ? [] : ['timeout', '-s', 'KILL', String(Math.max(1, Math.floor(opts.timeoutMs / 1000) - 2))];
  const result = await ctx.topo.exec(role, 'sh', ['-c', script, 'sh', statFile, ...deadline, cmd, ...args], opts);
  const wall = (Date.now() - t0) / 1000;
  let cpu;
  try {
    const stat = fs.readFileSync(statFile, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 16 and 17 of /proc/PID/stat (cutime, cstime): 13 and 14 after the ')'.
    cpu = Math.round((100 * (Number(f[13]) + Number(f[14]))) / CLK_TCK / wall);
    fs.rmSync(statFile);
  } catch {
    cpu = undefined;
  }
  return { result, cpu };
}

/** Entries in the gateway's conntrack table (0 when conntrack is not loaded there). */
async function conntrackCount(topo) {
  const r = await topo.exec('gw', 'cat', ['/proc/sys/net/netfilter/nf_conntrack_count'], { allowFailure: true });
  return Number(r.stdout.trim()) || 0;
}

const CLK_TCK = 100;

/**
 * utime+stime of a process, all its threads and its live descendants, in
 * seconds; with `sysOnly`, stime alone. Undefined when the process is gone.
 */
function procCpuSeconds(pid, sysOnly = false) {
  let sum;
  for (const p of processTree(pid)) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      sum = (sum ?? 0) + ((sysOnly ? 0 : Number(f[11])) + Number(f[12])) / CLK_TCK;
    } catch {
      // Exited in between.
    }
  }
  return sum;
}

/** Busy and total jiffies of the whole machine, from /proc/stat. */
function machineJiffies() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = f[3] + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/**
 * Runs `fn` and measures, alongside, the CPU each process in `pids`
 * ({ name: pid }) used, in % of one core, and how busy the whole machine was
 * (% of all cores).
 */
async function withCpu(pids, fn) {
  // The proxy's kernel share too: how much of its time is syscalls and the network stack under them.
  const names = Object.keys(pids).filter((k) => pids[k]);
  const probes = names.flatMap((k) => (k === 'proxy' ? [[k, false], ['proxy sys', true]] : [[k, false]]));
  const read = () => probes.map(([k, sys]) => procCpuSeconds(pids[k === 'proxy sys' ? 'proxy' : k], sys));
  const t0 = Date.now();
  const p0 = read();
  const m0 = machineJiffies();
  const value = await fn();
  const wall = (Date.now() - t0) / 1000;
  const p1 = read();
  const m1 = machineJiffies();
  const cpu = {};
  probes.forEach(([k], i) => {
    if (p0[i] !== undefined && p1[i] !== undefined) cpu[k] = Math.round((100 * (p1[i] - p0[i])) / wall);
  });
  return { value, cpu, machineBusy: Math.round((100 * (m1.busy - m0.busy)) / Math.max(1, m1.total - m0.total)) };
}

/**
 * Waits (up to `maxMs`) until the machine, with nothing of ours running, is
 * less than `threshold`% busy over one second: other tenants of a shared
 * machine then take less from the measurement. Returns the last background
 * reading, which goes into the sample's CPU figures as `background`.
 */
async function waitQuiet(log, { threshold = 20, maxMs = 60_000 } = {}) {
  const deadline = Date.now() + maxMs;
  let warned = false;
  for (;;) {
    const m0 = machineJiffies();
    await sleep(1000);
    const m1 = machineJiffies();
    const busy = Math.round((100 * (m1.busy - m0.busy)) / Math.max(1, m1.total - m0.total));
    if (busy < threshold || Date.now() > deadline) {
      if (busy >= threshold) log.warn(`machine still ${busy}% busy before the run (other tenants); measuring anyway`);
      return busy;
    }
    if (!warned) log.info(`machine ${busy}% busy before the run (other tenants); waiting up to ${maxMs / 1000} s for < ${threshold}%`);
    warned = true;
  }
}

/**
 * Runs `measure(mode, rep)` reps × modes times (it returns a number, or
 * `{ value, cpu: { name: % } }` to add CPU figures it measured itself, such
 * as the client's from {@link execWithCpu}), rotating the order each
 * repetition (plain,sluice,v2ray → sluice,v2ray,plain → …) so that drift on a
 * noisy machine hits every mode alike. Returns { mode: [values] }, with a
 * non-enumerable `cpu`: { mode: { proxy: [%], machine: [%], <name>: [%] } }
 * for the proxy, the machine and each of `watchPids` ({ name: pid }, e.g. the
 * server, to show it is not the bottleneck).
 */
async function interleave(ctx, measure, { pauseMs = 1000, watchPids = {} } = {}) {
  const { modes, reps } = ctx.flags;
  const samples = Object.fromEntries(modes.map((m) => [m, []]));
  const cpu = Object.fromEntries(modes.map((m) => [m, { proxy: [], machine: [] }]));
  const push = (obj, k, v) => (obj[k] ??= []).push(v);
  for (let rep = 0; rep < reps; rep++) {
    const order = modes.map((_, i) => modes[(i + rep) % modes.length]);
    for (const mode of order) {
      await ctx.activate(mode);
      await ctx.flushConntrack();
      const background = ctx.flags.quick ? undefined : await waitQuiet(ctx.log);
      const offloadedBefore = FORWARDING_MODES.has(mode) ? await ctx.firewall.offloadedBytes() : 0;
      const r = await withCpu({ proxy: ctx.proxies[mode]?.pid, ...watchPids }, () => measure(mode, rep));
      // Without the final drop, only the offload counters show that the kernel's offload path carried the run.
      if (FORWARDING_MODES.has(mode) && (await ctx.firewall.offloadedBytes()) === offloadedBefore) {
        throw new Error(`${mode}: the offload counters did not move, so the run did not take the offload path`);
      }
      let v = r.value;
      if (v !== null && typeof v === 'object') {
        for (const [k, pct] of Object.entries(v.cpu ?? {})) if (pct !== undefined) r.cpu[k] = pct;
        v = v.value;
      }
      if (background !== undefined) r.cpu.background = background;
      samples[mode].push(v);
      push(cpu[mode], 'machine', r.machineBusy);
      for (const [k, pct] of Object.entries(r.cpu)) push(cpu[mode], k, pct);
      const ct = await conntrackCount(ctx.topo);
      const cpuText = [
        ...Object.entries(r.cpu).map(([k, pct]) => `${k.replace('proxy', mode)} ${pct}%`),
        `machine ${r.machineBusy}% busy`,
        ...(ct ? [`${ct} conntrack entries in the gateway`] : []),
      ].join(', ');
      ctx.log.info(`rep ${rep + 1}/${reps} ${mode}: ${typeof v === 'number' ? fmt(v) : JSON.stringify(v)} (${cpuText})`);
      if (mode !== 'plain') ctx.proxies[mode]?.assertAlive();
      await sleep(pauseMs);
    }
  }
  await ctx.firewall.use(undefined);
  Object.defineProperty(samples, 'cpu', { value: cpu, enumerable: false });
  return samples;
}

function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function fmt(x, digits = 3) {
  if (x === undefined || x === null || !Number.isFinite(x)) return '—';
  if (Math.abs(x) >= 100) return Math.round(x).toLocaleString('en-US');
  return Number(x.toPrecision(digits)).toString();
}

/** Runs a script's main and exits non-zero with the message on failure. */
function runMain(main) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`bench: ${err && err.stack ? err.stack : err}\n`);
      process.exit(1);
    },
  );
}

module.exports = { ALL_MODES, TCP_MODES, EXTRA_MODES, parseFlags, makeLog, withBench, interleave, withCpu, execWithCpu, procCpuSeconds, median, fmt, runMain, sleep };
