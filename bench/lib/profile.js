'use strict';
/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and
 * per origin (Sluice, Node's own JS, dependencies, native/GC/idle).
 *
 *   node bench/lib/profile.js FILE.cpuprofile [--top N]
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/** Where a frame's code lives. */
function origin(cf) {
  const url = cf.url || '';
  if (!url) return cf.functionName.startsWith('(') ? cf.functionName : '(native/builtin)';
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('/node_modules/')) return `dep ${/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)[1]}`;
  if (url.includes('/packages/')) return `sluice ${/\/packages\/([^/]+)/.exec(url)[1]}`;
  return 'other';
}

function label(cf) {
  const file = cf.url ? `${cf.url.replace(/^file:\/\//, '').replace(/.*\/(packages|node_modules)\//, '$1/')}:${cf.lineNumber + 1}` : '';
  return `${cf.functionName || '(anonymous)'}${file ? ` ${file}` : ''}`;
}

/**
 * { totalMs, busyMs, functions: [{label, origin, ms}], origins: [{origin, ms}] }.
 * `window` ({ fromUs, toUs }, CLOCK_MONOTONIC microseconds like the profile's
 * own timestamps and process.hrtime) keeps only the samples taken inside it,
 * so start-up and shutdown do not count.
 */
function summarizeProfile(prof, window) {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  const { samples, timeDeltas } = prof;
  let t = prof.startTime;
  // timeDeltas[i] is the time before sample i; attribute it to sample i's node.
  for (let i = 0; i < samples.length; i++) {
    t += timeDeltas[i] ?? 0;
    if (window && (t < window.fromUs || t > window.toUs)) continue;
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + Math.max(0, timeDeltas[i] ?? 0));
  }
  const fns = new Map();
  const origins = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const cf = byId.get(id).callFrame;
    total += us;
    if (cf.functionName === '(idle)') idle += us;
    const key = label(cf);
    const o = origin(cf);
    const f = fns.get(key) ?? { label: key, origin: o, ms: 0 };
    f.ms += us / 1000;
    fns.set(key, f);
    origins.set(o, (origins.get(o) ?? 0) + us / 1000);
  }
  const desc = (a, b) => b.ms - a.ms;
  return {
    totalMs: total / 1000,
    busyMs: (total - idle) / 1000,
    functions: [...fns.values()].sort(desc),
    origins: [...origins].map(([o, ms]) => ({ origin: o, ms })).sort(desc),
  };
}

function formatSummary(s, top = 15) {
  const pct = (ms) => `${((100 * ms) / s.totalMs).toFixed(1).padStart(5)}%`;
  const lines = [
    `profiled ${s.totalMs.toFixed(0)} ms, of which not idle ${s.busyMs.toFixed(0)} ms (${pct(s.busyMs).trim()})`,
    '("(idle)" is everything outside JS while the event loop polls: epoll_wait, but also the read() syscalls',
    ' libuv makes before calling back into JS; writes made from JS show up under writeBuffer/writev)',
    'self time by origin:',
  ];
  for (const o of s.origins.slice(0, 10)) lines.push(`  ${pct(o.ms)} ${o.ms.toFixed(0).padStart(7)} ms  ${o.origin}`);
  lines.push(`top ${top} functions by self time:`);
  for (const f of s.functions.slice(0, top)) lines.push(`  ${pct(f.ms)} ${f.ms.toFixed(0).padStart(7)} ms  ${f.label}`);
  return `${lines.join('\n')}\n`;
}

/** Profiling flags shared by the scripts that offer --cpu-prof. */
const PROFILE_OPTIONS = {
  'cpu-prof': { type: 'boolean', default: false },
  'prof-dir': { type: 'string' },
  perf: { type: 'boolean', default: false },
  'prof-mode': { type: 'string' },
};
const PROFILE_HELP = `  --cpu-prof       instead of the comparison: one run through Sluice under
                   node --cpu-prof, then the top self-time functions
  --prof-dir D     where the .cpuprofile goes (default a temp directory)
  --perf           with --cpu-prof: also sample Sluice with perf record -g
                   (kernel side included) and print the top symbols
  --prof-mode M    with --cpu-prof: the Sluice variant to profile (default
                   sluice; e.g. sluice-info)`;

/**
 * One measurement through Sluice started under `node --cpu-prof` (and, with
 * --perf, `perf record`), then a summary of the measurement window only.
 * `setup(ctx)` starts the servers and returns `measure()`, which resolves
 * with `{ value, text }`.
 */
async function profileSluice(name, flags, tools, setup) {
  // Lazy: harness requires nothing from here, but keep the CLI entry free of it.
  const { withBench, withCpu } = require('./harness');
  const dir = flags['prof-dir'] ? path.resolve(flags['prof-dir']) : fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-cpuprof-'));
  fs.mkdirSync(dir, { recursive: true });
  const before = new Set(fs.readdirSync(dir));
  const mode = flags['prof-mode'] ?? 'sluice';
  if (!mode.startsWith('sluice') && mode !== 'node-floor') throw new Error(`--prof-mode ${mode}: only Sluice variants and node-floor can be profiled`);
  const out = await withBench(
    name,
    { ...flags, modes: [mode] },
    tools,
    async (ctx) => {
      const measure = await setup(ctx);
      await ctx.activate(mode);
      const pid = ctx.proxies[mode].pid;
      const perfData = path.join(dir, `perf-${pid}.data`);
      const us = () => Number(process.hrtime.bigint() / 1000n);
      const fromUs = us();
      // perf sees the kernel side that V8's profiler lumps into writeBuffer and "(idle)".
      const perf = flags.perf ? ctx.topo.spawn('gw', 'perf', ['record', '-q', '-g', '-o', perfData, '-p', String(pid)]) : undefined;
      const r = await withCpu({ proxy: pid }, measure);
      if (perf) {
        perf.kill('SIGINT');
        await new Promise((res) => perf.once('close', res));
      }
      const window = { fromUs, toUs: us() };
      await ctx.firewall.use(undefined);
      // SIGTERM lets Sluice exit through process.exit, which writes the profile.
      await ctx.proxies[mode].stop(30_000);
      return { ...r, window, perfData: perf ? perfData : undefined };
    },
    { proxyOptions: { [mode]: { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] } } },
  );
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile') && !before.has(f));
  if (files.length === 0) throw new Error(`no .cpuprofile appeared in ${dir} (did Sluice exit cleanly on SIGTERM?)`);
  const file = path.join(dir, files.sort().pop());
  process.stdout.write(`${out.value.text}; Sluice used ${out.cpu.proxy}% of a core, ${out.cpu['proxy sys']}% in the kernel\nprofile: ${file}\n`);
  process.stdout.write(formatSummary(summarizeProfile(JSON.parse(fs.readFileSync(file, 'utf8')), out.window)));
  if (out.perfData) {
    const args = ['report', '-i', out.perfData, '--stdio', '-g', 'none', '--sort', 'sym'];
    const self = spawnSync('perf', [...args, '--no-children', '--percent-limit', '1.5'], { encoding: 'utf8' });
    const total = spawnSync('perf', [...args, '--children', '--percent-limit', '8'], { encoding: 'utf8' });
    const rows = (t) => t.stdout.split('\n').filter((l) => /^\s+\d/.test(l));
    // Inclusive rows for the syscalls and stack layers only; the user-space frames above them are all "the event loop".
    const layers = rows(total).filter((l) => /\[k\] (ksys_\w+|__sys_\w+|tcp_\w+|__x64_sys_\w+|handle_softirqs|net_rx_action|__netif_receive_skb\w*|ip_\w+|veth_\w+|do_epoll_wait|__sys_accept4|inet_\w+|__tcp_\w+|_copy_\w+)/.test(l));
    process.stdout.write(`perf ${out.perfData}\nself time by symbol ([k] kernel, [.] user):\n${rows(self).join('\n')}\ninclusive time of syscalls and network-stack layers:\n${layers.join('\n')}\n`);
  }
  return out;
}

module.exports = { summarizeProfile, formatSummary, profileSluice, PROFILE_OPTIONS, PROFILE_HELP };

if (require.main === module) {
  const [file, flag, n] = process.argv.slice(2);
  if (!file) {
    process.stderr.write(`usage: node ${path.relative(process.cwd(), __filename)} FILE.cpuprofile [--top N]\n`);
    process.exit(2);
  }
  const s = summarizeProfile(JSON.parse(fs.readFileSync(file, 'utf8')));
  process.stdout.write(formatSummary(s, flag === '--top' ? Number(n) : 15));
}
