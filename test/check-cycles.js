#!/usr/bin/env node
'use strict';
/**
 * `npm run check:cycles` (run by `npm test` before mocha): fails when the
 * product packages' sources import each other in a cycle, at three levels:
 *
 * - files: a.ts → b.ts → a.ts (madge's `--circular`);
 * - the top-level folders of one package's sources (`inbound/`, `flow/`,
 *   `config/`…; a file at the top, such as `errors.ts`, is its own node):
 *   `config/validate-outbounds.ts` → `outbound/registry.ts` →
 *   `config/types.ts` ties config/ and outbound/ together although no file
 *   imports itself back;
 * - packages: @sluice/plugin-socks → @sluice/core → @sluice/plugin-socks.
 *
 * Type-only imports count: they are erased at run time, but a cycle of types
 * still means neither side can be read or changed without the other.
 * Only static imports are edges; a `require()` of a name computed at run time
 * (core loading the built-in plugins and the test bed by name) is not seen.
 * The product packages are the root's non-private workspaces, each scanned
 * under its tsconfig's `rootDir`.
 */
const fs = require('node:fs');
const path = require('node:path');
const madge = require('madge');
const ts = require('typescript');

const ROOT = path.resolve(__dirname, '..');

/** Non-private workspaces of the repository at `root`: `{ name, dir, src }` with paths relative to it. */
function productWorkspaces(root) {
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  return manifest.workspaces
    .map((dir) => ({ dir, manifest: JSON.parse(fs.readFileSync(path.join(root, dir, 'package.json'), 'utf8')) }))
    .filter((w) => !w.manifest.private)
    .map(({ dir, manifest }) => {
      const { config, error } = ts.readConfigFile(path.join(root, dir, 'tsconfig.json'), ts.sys.readFile);
      if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
      return { name: manifest.name, dir, src: path.posix.join(dir, config.compilerOptions.rootDir) };
    });
}

/** Strongly connected components with more than one node (Tarjan), each sorted. */
function cyclesOf(graph) {
  let index = 0;
  const stack = [];
  const state = new Map();
  const found = [];
  const visit = (v) => {
    const s = { index, low: index, onStack: true };
    index++;
    state.set(v, s);
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      const t = state.get(w);
      if (!t) {
        visit(w);
        s.low = Math.min(s.low, state.get(w).low);
      } else if (t.onStack) s.low = Math.min(s.low, t.index);
    }
    if (s.low === s.index) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        state.get(w).onStack = false;
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) found.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!state.has(v)) visit(v);
  return found;
}

/** Adds edge a → b (a ≠ b) to `graph`, remembering the file edge that made it. */
function link(graph, why, a, b, fileEdge) {
  if (a === b) return;
  if (!graph.has(a)) graph.set(a, new Set());
  graph.get(a).add(b);
  const key = `${a}\0${b}`;
  if (!why.has(key)) why.set(key, []);
  why.get(key).push(fileEdge);
}

/**
 * The import cycles of the repository at `root`, one readable entry each
 * (what is in the cycle and the imports that make it), and how many files
 * were scanned.
 */
async function findCycles(root) {
  const workspaces = productWorkspaces(root);
  const result = await madge(
    workspaces.map((w) => path.join(root, w.src)),
    { baseDir: root, fileExtensions: ['ts'], detectiveOptions: { ts: { skipTypeImports: false } } },
  );
  const files = result.obj();
  const problems = [];

  for (const cycle of result.circular()) problems.push(`files: ${[...cycle, cycle[0]].join(' → ')}`);

  // A resolved import of another workspace lands on its dist/*.d.ts; the path prefix names the package.
  const packageOf = (file) => workspaces.find((w) => file.startsWith(`${w.dir}/`));
  const folderGraphs = new Map(workspaces.map((w) => [w.name, { graph: new Map(), why: new Map() }]));
  const packages = { graph: new Map(), why: new Map() };
  for (const [from, deps] of Object.entries(files)) {
    const pa = packageOf(from);
    if (!pa || !from.startsWith(`${pa.src}/`)) continue;
    for (const to of deps) {
      const pb = packageOf(to);
      if (!pb) continue;
      if (pa !== pb) {
        link(packages.graph, packages.why, pa.name, pb.name, `${from} → ${pb.name}`);
        continue;
      }
      if (!to.startsWith(`${pa.src}/`)) continue;
      const top = (f) => {
        const rel = path.posix.relative(pa.src, f);
        return rel.includes('/') ? `${rel.split('/')[0]}/` : rel;
      };
      const { graph, why } = folderGraphs.get(pa.name);
      link(graph, why, top(from), top(to), `${path.posix.relative(pa.src, from)} → ${path.posix.relative(pa.src, to)}`);
    }
  }
  const describe = (label, { graph, why }) => {
    for (const scc of cyclesOf(graph)) {
      // Top-level files alone in a cycle were reported as a file cycle already.
      if (label !== 'packages' && !scc.some((n) => n.endsWith('/'))) continue;
      const members = new Set(scc);
      const edges = [];
      for (const [key, list] of why) {
        const [a, b] = key.split('\0');
        if (members.has(a) && members.has(b)) edges.push(...list);
      }
      problems.push(`${label}: ${scc.join(' ⇄ ')}\n${edges.map((e) => `      ${e}`).join('\n')}`);
    }
  };
  for (const w of workspaces) describe(`folders of ${w.src}`, folderGraphs.get(w.name));
  describe('packages', packages);

  const scanned = Object.keys(files).filter((f) => workspaces.some((w) => f.startsWith(`${w.src}/`))).length;
  return { problems, scanned, packages: workspaces.map((w) => w.name) };
}

async function main() {
  const { problems, scanned, packages } = await findCycles(ROOT);
  if (problems.length === 0) {
    process.stdout.write(`check:cycles: no import cycles in ${scanned} files of ${packages.join(', ')}\n`);
    return 0;
  }
  process.stderr.write(`check:cycles: ${problems.length} import cycle(s) in the product packages:\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
  return 1;
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`check:cycles: ${err.stack || err}\n`);
      process.exitCode = 2;
    },
  );
}

module.exports = { findCycles };
