#!/usr/bin/env node
'use strict';
/**
 * Routing decision time, in-process (no network): median ns per decision of
 * the compiled router with 100,000 CIDRs and 100,000 domain suffixes
 * (generated), the time to load those lists, and how decision time grows
 * with 10, 1,000 and 100,000 rules. Baselines measured in the same run: a
 * router with no rules (the floor), and a linear scan of the same suffixes
 * (what the trie replaces). The target (issue 9): ≤ 2 µs a decision, < 1 s
 * to load. `npm run bench -- --only route` runs it through run-all.
 *
 *   node bench/route-decision.js [--quick] [--seed N]
 * (other run-all flags are accepted and ignored).
 */
const { parseArgs } = require('node:util');
const { performance } = require('node:perf_hooks');
const v8 = require('node:v8');
const vm = require('node:vm');
const core = require('@sluice/core');

// A full collection before each measurement, so one row's garbage (100k-entry structures) is not billed to the next.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    seed: { type: 'string' },
    reps: { type: 'string' },
    modes: { type: 'string' },
    write: { type: 'boolean' },
    'no-write': { type: 'boolean' },
    verbose: { type: 'boolean', short: 'v' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (flags.help) {
  process.stdout.write('usage: node bench/route-decision.js [--quick] [--seed N]\n');
  process.exit(0);
}

/** Deterministic, so runs compare (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(Number(flags.seed ?? 42));
const int = (n) => Math.floor(rand() * n);
const TLDS = ['com', 'net', 'org', 'io', 'cn', 'de', 'co.uk', 'ru', 'jp', 'info'];
const word = () => {
  const len = 4 + int(8);
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode(97 + int(26));
  return s;
};

const N = 100_000;
const suffixes = Array.from({ length: N }, (_, i) => `${word()}${i}.${TLDS[i % TLDS.length]}`);
const cidrs = Array.from({ length: N }, (_, i) =>
  i % 10 === 9 ? `2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::/64` : `${1 + int(222)}.${int(256)}.${int(256)}.0/${20 + int(5)}`,
);

/** Flows: a quarter hit a suffix (at some depth), a quarter hit a CIDR, half miss; half have a host. */
function makeFlows(count) {
  const flows = [];
  for (let i = 0; i < count; i++) {
    const kind = i % 4;
    let host;
    let address = `${1 + int(222)}.${int(256)}.${int(256)}.${int(256)}`;
    if (kind === 0) host = `${int(2) ? 'www.' : ''}${suffixes[int(N)]}`;
    else if (kind === 1) host = `miss${i}.example.test`;
    else if (kind === 2) address = cidrs[int(N)].replace(/\/\d+$/, '').replace(/::$/, '::1').replace(/\.0$/, '.1');
    flows.push({ id: i, network: i % 3 ? 'tcp' : 'udp', inbound: 'in', src: { address: '192.168.1.10', port: 40000 + (i % 1000) }, dst: { address, port: 443, ...(host ? { host } : {}) } });
  }
  return flows;
}

/** Median ns per call of `fn(flow)` over `rounds` passes of `flows`. */
function measure(fn, flows, rounds) {
  gc();
  for (let w = 0; w < 3; w++) for (const f of flows) fn(f);
  const samples = [];
  let sink = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (const f of flows) if (fn(f)) sink++;
    samples.push(((performance.now() - t0) * 1e6) / flows.length);
  }
  samples.sort((a, b) => a - b);
  if (sink < 0) process.stdout.write('');
  return samples[samples.length >> 1];
}

function time(fn) {
  const t0 = performance.now();
  const v = fn();
  return { ms: performance.now() - t0, v };
}

const fmt = (x) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : Number(x.toPrecision(3)).toString());
const rounds = flags.quick ? 10 : 40;
const flows = makeFlows(flags.quick ? 2000 : 10_000);
const route = (rules) => ({ rules, rule_sets: [], final: 'c', hook_timeout_ms: 1000 });
const rows = [];

// Loading.
const loadCidr = time(() => core.CidrSet.from(cidrs));
const loadHosts = time(() => new core.HostSet({ domain_suffix: suffixes }));
const text = [...suffixes.map((s) => `+.${s}`), ...cidrs].join('\n');
const loadText = time(() => core.parseRuleSet(text, 'text'));
const loadRouter = time(() => new core.Router(route([
  { name: 'suffixes', domain_suffix: suffixes, outbound: 'a' },
  { name: 'cidrs', dst_cidr: cidrs, outbound: 'b' },
])));
rows.push(['load 100k CIDRs (CidrSet)', `${fmt(loadCidr.ms)} ms`, 'target < 1000 ms']);
rows.push(['load 100k suffixes (HostSet)', `${fmt(loadHosts.ms)} ms`, 'target < 1000 ms']);
rows.push(['parse+compile 200k-line text rule set', `${fmt(loadText.ms)} ms`, '']);
rows.push(['compile router (both lists as rules)', `${fmt(loadRouter.ms)} ms`, '']);

// Decisions.
const empty = new core.Router(route([]));
const floor = measure((f) => empty.route(f).outbound === 'c', flows, rounds);
const big = loadRouter.v;
const decision = measure((f) => big.route(f).outbound !== 'c', flows, rounds);
const viaSet = new core.Router(route([{ name: 'set', rule_set: ['big'], outbound: 'a' }]), {
  ruleSets: { get: (tag) => (tag === 'big' ? { tag, current: loadText.v } : undefined) },
});
const setDecision = measure((f) => viaSet.route(f).outbound !== 'c', flows, rounds);
const few = flows.slice(0, 200);
const scan = measure((f) => {
  const h = f.dst.host;
  if (!h) return false;
  for (const s of suffixes) if (h === s || h.endsWith(`.${s}`)) return true;
  return false;
}, few, Math.max(3, rounds >> 3));
rows.push(['decision, no rules (floor)', `${fmt(floor)} ns`, '']);
rows.push(['decision, 100k suffixes + 100k CIDRs', `${fmt(decision)} ns`, `target ≤ 2000 ns; ${fmt(decision / floor)}× floor`]);
rows.push(['decision, same lists as one rule set', `${fmt(setDecision)} ns`, `${fmt(setDecision / floor)}× floor`]);
rows.push(['linear scan of 100k suffixes (baseline)', `${fmt(scan)} ns`, `trie is ${fmt(scan / decision)}× faster`]);

// Keywords: KeywordSet's Aho-Corasick automaton against one combined regular expression, at 1,000 keywords
// (where KeywordSet itself uses the expression) and at 20,000 (where it builds the automaton): the figures
// behind REGEX_LIMIT in packages/core/src/router/keyword-set.ts. The automaton is built only past 2,000
// keywords, so at 1,000 it is forced with 2,001 filler keywords that start with a control character no host
// contains: they hang off one root branch that matching never enters, and the fail links of the real keywords'
// states cannot point into them, so a host walks exactly the 1,000-keyword automaton. Build time is the
// constructor for the automaton, and the constructor plus a first match for the expression (V8 compiles a
// regular expression when it is first run).
const hosts = flows.map((f) => f.dst.host ?? `${word()}.${word()}.com`);
const hostFlows = hosts.map((h) => ({ dst: { host: h } }));
const escapeRegExp = (k) => k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
for (const n of [1000, 20_000]) {
  const keywords = Array.from({ length: n }, () => word());
  const filler = n > 2000 ? [] : Array.from({ length: 2001 }, (_, i) => `\u0001${i}`);
  const automaton = time(() => new core.KeywordSet([...keywords, ...filler]));
  const combined = time(() => {
    const r = new RegExp(keywords.map(escapeRegExp).join('|'));
    r.test('warm-up');
    return r;
  });
  const ac = measure((f) => automaton.v.has(f.dst.host), hostFlows, rounds);
  const re = measure((f) => combined.v.test(f.dst.host), hostFlows, rounds);
  rows.push([
    `${n.toLocaleString('en-US')} keywords: Aho-Corasick`,
    `${fmt(ac)} ns`,
    `combined regex ${fmt(re)} ns (${fmt(re / ac)}×); build ${fmt(automaton.ms)} ms vs regex ${fmt(combined.ms)} ms`,
  ]);
}

// Scaling with the number of rules (Clash DOMAIN-SUFFIX lines; the flows' hosts match none, the worst case).
const missFlows = flows.map((f) => ({ ...f, dst: { ...f.dst, host: `miss${f.id}.nowhere.test` } }));
for (const n of [10, 1000, 100_000]) {
  const rules = suffixes.slice(0, n).map((s, i) => ({ name: `rules[${i}]`, domain_suffix: [s], outbound: 'a' }));
  const r = time(() => new core.Router(route(rules)));
  const ns = measure((f) => r.v.route(f).outbound === 'c', n >= 100_000 ? missFlows.slice(0, 100) : missFlows, n >= 100_000 ? 3 : rounds);
  rows.push([`${n.toLocaleString('en-US')} rules, no match`, `${fmt(ns)} ns`, `compile ${fmt(r.ms)} ms`]);
}

const w0 = Math.max(...rows.map((r) => r[0].length));
const w1 = Math.max(...rows.map((r) => r[1].length));
process.stdout.write(`route decision (node ${process.version}, ${flows.length} flows × ${rounds} rounds, median; load average ${require('node:os').loadavg().map((x) => x.toFixed(1)).join(' ')} on ${require('node:os').cpus().length} CPUs)\n`);
for (const [a, b, c] of rows) process.stdout.write(`  ${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}\n`);
