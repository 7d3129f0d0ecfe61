#!/usr/bin/env node
'use strict';
/**
 * `npm run check:docs`: fails when a doc names a command that the repository
 * does not have, so a figure's "produced by …" cannot point at nothing
 * (issue 12). Reads the code in README.md, docs/ (not the generated docs/api/),
 * packages/ and examples/ READMEs: fenced blocks line by line and `inline`
 * spans (which may wrap lines), and checks
 *
 * - `npm run NAME` (with `-w WORKSPACE` / `--workspace`): a script NAME in
 *   the root package.json, or in that workspace's (a package's README may
 *   also name its own package's scripts);
 * - `node bench/X.js`, `node test/X.js`, … : the file exists; its `--flags`
 *   appear in it or in its folder's lib/ (where the benchmarks share theirs);
 * - a compiled path (`test/dist/…js`, `packages/P/dist/…js`): its TypeScript
 *   source exists (the build makes the rest); globs are left alone;
 * - `sluice COMMAND --flag`: COMMAND is a command of the CLI and the flag one
 *   of its options (packages/core/src/cli/).
 *
 * A mechanical check: it proves that what a doc tells the reader to run
 * exists, not that it prints what the doc says.
 */
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

/** Markdown files whose commands are checked, relative to `root`. */
function docFiles(root) {
  const out = [];
  const add = (rel) => fs.existsSync(path.join(root, rel)) && out.push(rel);
  add('README.md');
  const walk = (dir) => {
    if (!fs.existsSync(path.join(root, dir))) return;
    for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (!['api', 'node_modules', 'dist', 'images'].includes(e.name)) walk(rel);
      } else if (e.name.endsWith('.md')) out.push(rel);
    }
  };
  walk('docs');
  for (const parent of ['packages', 'examples']) {
    if (!fs.existsSync(path.join(root, parent))) continue;
    for (const e of fs.readdirSync(path.join(root, parent), { withFileTypes: true })) {
      if (e.isDirectory()) add(path.join(parent, e.name, 'README.md'));
    }
  }
  return out;
}

/** The code in a Markdown text: each fenced line and each inline span, with the line it starts on. */
function codeSnippets(text) {
  const snippets = [];
  const lines = text.split('\n');
  const prose = [];
  let fence = null;
  lines.forEach((line, i) => {
    const m = /^\s*(```+|~~~+)/.exec(line);
    if (m && (fence === null || m[1][0] === fence[0])) {
      fence = fence === null ? m[1] : null;
      prose.push('');
    } else if (fence !== null) {
      snippets.push({ line: i + 1, code: line });
      prose.push('');
    } else prose.push(line);
  });
  const flat = prose.join('\n');
  for (const m of flat.matchAll(/(`+)([^`]+?)\1/g)) {
    snippets.push({ line: flat.slice(0, m.index).split('\n').length, code: m[2].replace(/\s*\n\s*/g, ' ') });
  }
  return snippets;
}

/** `name` of every package.json under the workspaces, → its folder. */
function workspaces(root) {
  const pkg = readJson(path.join(root, 'package.json'));
  const out = new Map();
  for (const dir of pkg.workspaces ?? []) {
    const p = path.join(root, dir, 'package.json');
    if (!fs.existsSync(p)) continue;
    out.set(readJson(p).name, dir);
    out.set(dir, dir);
  }
  return out;
}

function readJson(p) {
  return JSON.parse(fs.readFileSync(p, 'utf8'));
}

/** The CLI's commands and, per command, its long options, read from the commander definitions. */
function cliCommands(root) {
  const dir = path.join(root, 'packages/core/src/cli');
  const commands = new Map();
  if (!fs.existsSync(dir)) return commands;
  for (const f of fs.readdirSync(dir)) {
    if (!f.endsWith('.ts')) continue;
    const src = fs.readFileSync(path.join(dir, f), 'utf8');
    for (const m of src.matchAll(/\.command\('([a-z-]+)'\)([\s\S]*?)(?=\.command\(|$)/g)) {
      const flags = new Set([...m[2].matchAll(/\.(?:requiredOption|option)\('(?:-\w, )?(--[a-z-]+)/g)].map((o) => o[1]));
      flags.add('--help');
      commands.set(m[1], flags);
    }
  }
  return commands;
}

/** The TypeScript source a compiled path comes from, or undefined when it is not compiled output. */
function sourceOf(rel) {
  let m = /^test\/dist\/(.+)\.js$/.exec(rel);
  if (m) return `test/${m[1]}.ts`;
  m = /^packages\/([^/]+)\/dist\/(.+)\.js$/.exec(rel);
  if (m) return `packages/${m[1]}/src/${m[2]}.ts`;
  return undefined;
}

/** Flags written after a command, up to the end of that command (a pipe, `;`, `&&`, `#` or a closing paren). */
function flagsAfter(rest) {
  const cmd = rest.split(/\s(?:\||;|&&|\|\||#)\s|[)]/)[0];
  return [...cmd.matchAll(/(?:^|\s)(--[a-z][a-z0-9-]*)/g)].map((m) => m[1]);
}

/**
 * Every command named in the docs under `root` that the repository lacks:
 * `{ file, line, problem }`, empty when all exist.
 */
function findMissingCommands(root = ROOT) {
  const pkg = readJson(path.join(root, 'package.json'));
  const spaces = workspaces(root);
  const cli = cliCommands(root);
  const problems = [];
  for (const file of docFiles(root)) {
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    // A package's README may name its own scripts (run in that package).
    const ownPath = path.join(root, path.dirname(file), 'package.json');
    const own = file !== 'README.md' && fs.existsSync(ownPath) ? readJson(ownPath) : undefined;
    // Fenced blocks are read before inline spans; report in reading order.
    for (const { line, code } of codeSnippets(text).sort((a, b) => a.line - b.line)) {
      const report = (problem) => problems.push({ file, line, problem });
      for (const m of code.matchAll(/\bnpm run(?:\s+(?:-s|--silent))?\s+([a-z][\w:.-]*)((?:\s+(?:-w|--workspace)(?:\s+|=)\S+)?)/g)) {
        const ws = /(?:-w|--workspace)(?:\s+|=)(\S+)/.exec(m[2])?.[1];
        if (ws !== undefined) {
          const dir = spaces.get(ws);
          if (dir === undefined) report(`npm run ${m[1]} -w ${ws}: no such workspace`);
          else if (!readJson(path.join(root, dir, 'package.json')).scripts?.[m[1]]) report(`npm run ${m[1]} -w ${ws}: no script "${m[1]}" in ${dir}/package.json`);
        } else if (!pkg.scripts?.[m[1]] && !own?.scripts?.[m[1]]) {
          report(`npm run ${m[1]}: no script "${m[1]}" in package.json${own ? ` nor in ${path.dirname(file)}/package.json` : ''}`);
        }
      }
      for (const m of code.matchAll(/(?:^|[\s'"(=])((?:bench|test|scripts|packages|examples|packaging)\/[\w./@-]+\.(?:js|ts|sh|mjs|cjs))\b/g)) {
        const rel = m[1];
        const source = sourceOf(rel);
        if (source !== undefined) {
          if (!fs.existsSync(path.join(root, source))) report(`${rel}: its source ${source} does not exist`);
        } else if (!fs.existsSync(path.join(root, rel))) report(`${rel}: no such file`);
      }
      for (const m of code.matchAll(/\bnode\s+((?:bench|test|scripts)\/[\w./-]+\.js)\b(.*)$/g)) {
        const rel = m[1];
        if (!fs.existsSync(path.join(root, rel))) continue; // reported above
        const libDir = path.join(root, path.dirname(rel), 'lib');
        const texts = [fs.readFileSync(path.join(root, rel), 'utf8')];
        if (fs.existsSync(libDir)) {
          for (const f of fs.readdirSync(libDir)) if (f.endsWith('.js')) texts.push(fs.readFileSync(path.join(libDir, f), 'utf8'));
        }
        for (const flag of flagsAfter(m[2])) {
          const name = flag.slice(2);
          if (!texts.some((t) => t.includes(flag) || t.includes(`'${name}'`) || new RegExp(`\\b${name}\\s*:`).test(t))) report(`${rel} ${flag}: the script has no such flag`);
        }
      }
      for (const m of code.matchAll(/(?:^|\s)sluice\s+([a-z][a-z-]*)(.*)$/g)) {
        if (cli.size === 0) break;
        const flags = cli.get(m[1]);
        if (flags === undefined) {
          if (code.trim().startsWith('sluice') || /(?:npx|\$|#)\s+sluice\s/.test(code)) report(`sluice ${m[1]}: no such command`);
          continue;
        }
        for (const flag of flagsAfter(m[2])) if (!flags.has(flag)) report(`sluice ${m[1]} ${flag}: no such option`);
      }
    }
  }
  return problems;
}

module.exports = { findMissingCommands };

if (require.main === module) {
  const problems = findMissingCommands();
  for (const p of problems) process.stderr.write(`${p.file}:${p.line}: ${p.problem}\n`);
  if (problems.length > 0) {
    process.stderr.write(`check:docs: ${problems.length} command(s) named in the docs do not exist\n`);
    process.exit(1);
  }
  process.stdout.write('check:docs: every command named in the docs exists\n');
}
