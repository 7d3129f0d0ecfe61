'use strict';
/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and
 * per origin (Sluice, Node's own JS, dependencies, native/GC/idle).
 *
 *   node bench/lib/profile.js FILE.cpuprofile [--top N]
 */
const fs = require('node:fs');
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

/** { totalMs, busyMs, functions: [{label, origin, ms}], origins: [{origin, ms}] } */
function summarizeProfile(prof) {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  const { samples, timeDeltas } = prof;
  // timeDeltas[i] is the time before sample i; attribute it to sample i's node.
  for (let i = 0; i < samples.length; i++) selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + Math.max(0, timeDeltas[i] ?? 0));
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
  const lines = [`profiled ${s.totalMs.toFixed(0)} ms, of which not idle ${s.busyMs.toFixed(0)} ms (${pct(s.busyMs).trim()})`, 'self time by origin:'];
  for (const o of s.origins.slice(0, 10)) lines.push(`  ${pct(o.ms)} ${o.ms.toFixed(0).padStart(7)} ms  ${o.origin}`);
  lines.push(`top ${top} functions by self time:`);
  for (const f of s.functions.slice(0, top)) lines.push(`  ${pct(f.ms)} ${f.ms.toFixed(0).padStart(7)} ms  ${f.label}`);
  return `${lines.join('\n')}\n`;
}

module.exports = { summarizeProfile, formatSummary };

if (require.main === module) {
  const [file, flag, n] = process.argv.slice(2);
  if (!file) {
    process.stderr.write(`usage: node ${path.relative(process.cwd(), __filename)} FILE.cpuprofile [--top N]\n`);
    process.exit(2);
  }
  const s = summarizeProfile(JSON.parse(fs.readFileSync(file, 'utf8')));
  process.stdout.write(formatSummary(s, flag === '--top' ? Number(n) : 15));
}
