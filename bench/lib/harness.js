'use strict';
/**
 * What every benchmark script shares: flags, logging, the topology's
 * lifetime, A/B interleaving of the modes, medians.
 */
const { parseArgs } = require('node:util');
const fs = require('node:fs');
const { assertRoot, ensureTools } = require('./env');
const { createBenchTopology, sleep } = require('./topo');
const { GatewayFirewall, ProxyProcess, makeWorkdir } = require('./proxies');

/** Default modes: the comparison issue #4 asks for. */
const ALL_MODES = ['plain', 'sluice', 'v2ray'];
/** Opt-in Sluice variants (see SLUICE_VARIANTS in proxies.js). */
const EXTRA_MODES = ['sluice-nosplice', 'sluice-workers'];

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
  --modes LIST     comma-separated, from plain,sluice,v2ray (the default) and
                   the Sluice variants sluice-nosplice (relay.splice: false)
                   and sluice-workers (workers: auto)
  --write          write docs/benchmarks.md even with --quick
  --no-write       print only
  -v, --verbose    log every setup command`;

/** Parses argv with the common flags plus `extra` (parseArgs option specs). */
function parseFlags(argv, extra = {}, usage = '') {
  const { values } = parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...extra }, allowPositionals: false });
  if (values.help) {
    process.stdout.write(`${usage}\n${COMMON_HELP}\n`);
    process.exit(0);
  }
  const modes = values.modes ? values.modes.split(',').map((m) => m.trim()) : [...ALL_MODES];
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
  ensureTools(['ip', 'nft', 'ss', 'prlimit', ...tools, ...(flags.modes.includes('v2ray') ? ['v2ray'] : [])], log.info);
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

const CLK_TCK = 100;

/** utime+stime of a process (all threads), in seconds; with `sysOnly`, stime alone. */
function procCpuSeconds(pid, sysOnly = false) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((sysOnly ? 0 : Number(f[11])) + Number(f[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
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
 * Runs `measure(mode, rep)` reps × modes times, rotating the order each
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
      const r = await withCpu({ proxy: ctx.proxies[mode]?.pid, ...watchPids }, () => measure(mode, rep));
      const v = r.value;
      samples[mode].push(v);
      push(cpu[mode], 'machine', r.machineBusy);
      for (const [k, pct] of Object.entries(r.cpu)) push(cpu[mode], k, pct);
      const cpuText = [...Object.entries(r.cpu).map(([k, pct]) => `${k.replace('proxy', mode)} ${pct}%`), `machine ${r.machineBusy}% busy`].join(', ');
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

module.exports = { ALL_MODES, EXTRA_MODES, parseFlags, makeLog, withBench, interleave, withCpu, procCpuSeconds, median, fmt, runMain, sleep };
