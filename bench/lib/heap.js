'use strict';
/**
 * Summarises V8 heap snapshots (node --heapsnapshot-signal): retained-by-type
 * is not needed here, only self sizes by constructor, and the difference
 * between two snapshots divided by the number of flows that were added.
 *
 *   node bench/lib/heap.js BEFORE.heapsnapshot AFTER.heapsnapshot FLOWS
 */
const fs = require('node:fs');

/** Map of "Constructor" (objects) or "(type)" (closures, strings, code …) → { count, bytes }. */
function summarizeHeap(file) {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8'));
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const { nodes, strings } = snap;
  const out = new Map();
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + iType]];
    const key = type === 'object' || type === 'native' ? `${strings[nodes[i + iName]]}${type === 'native' ? ' (native)' : ''}` : `(${type})`;
    const e = out.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += nodes[i + iSize];
    out.set(key, e);
  }
  return out;
}

/** Per-flow growth between two summaries, largest first: [{ key, count, bytes }] (per flow). */
function perFlowGrowth(before, after, flows) {
  const rows = [];
  for (const [key, a] of after) {
    const b = before.get(key) ?? { count: 0, bytes: 0 };
    rows.push({ key, count: (a.count - b.count) / flows, bytes: (a.bytes - b.bytes) / flows });
  }
  return rows.sort((x, y) => y.bytes - x.bytes);
}

function total(summary) {
  let bytes = 0;
  for (const e of summary.values()) bytes += e.bytes;
  return bytes;
}

function formatGrowth(before, after, flows, top = 20) {
  const rows = perFlowGrowth(before, after, flows);
  const all = (total(after) - total(before)) / flows;
  const lines = [`JS heap (self sizes) per flow: ${(all / 1024).toFixed(2)} KiB; largest contributors (objects per flow, bytes per flow):`];
  for (const r of rows.slice(0, top)) lines.push(`  ${r.bytes.toFixed(0).padStart(6)} B  ${r.count.toFixed(2).padStart(6)} × ${r.key}`);
  return `${lines.join('\n')}\n`;
}

module.exports = { summarizeHeap, perFlowGrowth, formatGrowth };

if (require.main === module) {
  const [a, b, n] = process.argv.slice(2);
  if (!a || !b || !n) {
    process.stderr.write('usage: node bench/lib/heap.js BEFORE.heapsnapshot AFTER.heapsnapshot FLOWS\n');
    process.exit(2);
  }
  process.stdout.write(formatGrowth(summarizeHeap(a), summarizeHeap(b), Number(n)));
}
