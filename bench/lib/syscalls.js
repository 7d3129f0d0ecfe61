'use strict';
/**
 * System calls a proxy makes per connection: `strace -c -f` attached to the
 * proxy's process while a workload runs, its summary parsed and divided by
 * the connections the proxy accepted in that window (its successful
 * `accept`/`accept4` calls). ptrace slows the proxy down, so the rate of a
 * traced run means nothing; the counts per connection are what it is for:
 * they show whether one proxy does more kernel work per connection than
 * another.
 */
const { spawn } = require('node:child_process');
const { readFileSync } = require('node:fs');
const path = require('node:path');

/**
 * Parses strace's `-c` summary: `{ name: { calls, errors } }` per system
 * call (the `total` line left out).
 */
function parseStraceSummary(text) {
  const out = {};
  for (const line of text.split('\n')) {
    // % time, seconds, usecs/call, calls, [errors,] syscall
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?([a-z_0-9]+)\s*$/.exec(line);
    if (!m || m[3] === 'total') continue;
    out[m[3]] = { calls: Number(m[1]), errors: Number(m[2] ?? 0) };
  }
  return out;
}

/**
 * Runs `fn` with strace counting the system calls of `pid` (all its threads)
 * and resolves with `{ result, perConnection, connections }`: calls per
 * accepted connection by system call name, sorted by count.
 */
async function countSyscalls(pid, workdir, fn) {
  const file = path.join(workdir, `strace-${pid}.txt`);
  const strace = spawn('strace', ['-c', '-f', '-q', '-p', String(pid), '-o', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  strace.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => strace.once('close', resolve));
  // Attaching to every thread takes a moment; calls before that are not counted either way.
  await new Promise((r) => setTimeout(r, 500));
  if (strace.exitCode !== null) throw new Error(`strace -p ${pid} exited at once: ${stderr}`);
  let result;
  try {
    result = await fn();
  } finally {
    strace.kill('SIGINT');
    await exited;
  }
  const summary = parseStraceSummary(readFileSync(file, 'utf8'));
  const accepted = ['accept4', 'accept'].reduce((n, k) => n + (summary[k] ? summary[k].calls - summary[k].errors : 0), 0);
  if (accepted === 0) throw new Error(`strace saw no accepted connection in ${pid}:\n${readFileSync(file, 'utf8')}`);
  const perConnection = Object.entries(summary)
    .map(([name, s]) => [name, s.calls / accepted])
    .sort((a, b) => b[1] - a[1]);
  return { result, perConnection, connections: accepted };
}

/**
 * One table of calls per connection, a column per mode, the rows that reach
 * 0.05 in some mode, then the totals.
 */
function formatSyscallTable(byMode) {
  const modes = Object.keys(byMode);
  const names = [...new Set(modes.flatMap((m) => byMode[m].perConnection.filter(([, v]) => v >= 0.05).map(([n]) => n)))];
  const value = (m, n) => byMode[m].perConnection.find(([k]) => k === n)?.[1] ?? 0;
  names.sort((a, b) => Math.max(...modes.map((m) => value(m, b))) - Math.max(...modes.map((m) => value(m, a))));
  const pad = (s, w) => String(s).padStart(w);
  const lines = [`${'syscall'.padEnd(14)}${modes.map((m) => pad(m, 12)).join('')}`];
  for (const n of names) lines.push(`${n.padEnd(14)}${modes.map((m) => pad(value(m, n).toFixed(2), 12)).join('')}`);
  const total = (m) => byMode[m].perConnection.reduce((a, [, v]) => a + v, 0);
  lines.push(`${'total'.padEnd(14)}${modes.map((m) => pad(total(m).toFixed(2), 12)).join('')}`);
  lines.push(`${'(connections)'.padEnd(14)}${modes.map((m) => pad(byMode[m].connections, 12)).join('')}`);
  return lines.join('\n');
}

module.exports = { parseStraceSummary, countSyscalls, formatSyscallTable };
