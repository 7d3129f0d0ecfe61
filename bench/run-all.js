#!/usr/bin/env node
'use strict';
/**
 * Runs every benchmark (each in its own process and topology) and leaves the
 * results table and the scaling section in docs/benchmarks.md. `npm run bench` runs this.
 *
 *   node bench/run-all.js [--quick] [--reps N] [--modes …] [--only tcp,dns,conn,memory,route,scaling]
 *                         [--cpu-prof] [--write|--no-write] [-v]
 * --cpu-prof adds the profiled 1-stream run at the end. Other flags are passed on.
 */
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { parseArgs } = require('node:util');

const SCRIPTS = {
  tcp: 'tcp-throughput.js',
  dns: 'dns.js',
  conn: 'conn-rate.js',
  memory: 'memory.js',
  route: 'route-decision.js',
  // How cost grows (issue #14): its own section of docs/benchmarks.md.
  scaling: 'scaling.js',
};

function main() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      reps: { type: 'string' },
      modes: { type: 'string' },
      only: { type: 'string' },
      'cpu-prof': { type: 'boolean' },
      write: { type: 'boolean' },
      'no-write': { type: 'boolean' },
      verbose: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`usage: node bench/run-all.js [--quick] [--reps N] [--modes plain,sluice,v2ray] [--only ${Object.keys(SCRIPTS).join(',')}] [--cpu-prof] [--write|--no-write] [-v]\n`);
    return 0;
  }
  const pass = [];
  if (values.quick) pass.push('--quick');
  if (values.reps) pass.push('--reps', values.reps);
  if (values.write) pass.push('--write');
  if (values['no-write']) pass.push('--no-write');
  if (values.verbose) pass.push('-v');
  const only = values.only ? values.only.split(',') : Object.keys(SCRIPTS);
  const runs = [];
  for (const name of only) {
    if (!SCRIPTS[name]) throw new Error(`unknown benchmark ${name} (${Object.keys(SCRIPTS).join(', ')})`);
    const modes = values.modes ? ['--modes', name === 'memory' ? values.modes.split(',').filter((m) => m !== 'plain').join(',') : values.modes] : [];
    if (modes[1] === '') continue;
    runs.push({ label: name, args: [SCRIPTS[name], ...pass, ...modes] });
  }
  if (values['cpu-prof']) runs.push({ label: 'cpu-prof', args: [SCRIPTS.tcp, '--cpu-prof', ...(values.quick ? ['--quick'] : [])] });
  const failed = [];
  for (const run of runs) {
    process.stderr.write(`\n=== ${run.label}: node bench/${run.args.join(' ')}\n`);
    const r = spawnSync(process.execPath, [path.join(__dirname, run.args[0]), ...run.args.slice(1)], { stdio: 'inherit' });
    if (r.status !== 0) failed.push(`${run.label} (${r.signal ?? `exit ${r.status}`})`);
    // Let TIME_WAIT, page cache and the other tenants settle between benchmarks.
    spawnSync('sleep', ['3']);
  }
  if (failed.length) {
    process.stderr.write(`\nfailed: ${failed.join(', ')}\n`);
    return 1;
  }
  return 0;
}

process.exitCode = main();
