'use strict';
/**
 * Host checks for the benchmarks: root, the tools they drive (installed with
 * apt when missing), and a description of the machine for the results table.
 */
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');

/** Binary → Debian package that provides it. */
const TOOLS = {
  iperf3: 'iperf3',
  dnsperf: 'dnsperf',
  dnsmasq: 'dnsmasq',
  wrk: 'wrk',
  v2ray: 'v2ray',
  haproxy: 'haproxy',
  nginx: 'nginx-light',
  nft: 'nftables',
  ip: 'iproute2',
  ss: 'iproute2',
  prlimit: 'util-linux',
  conntrack: 'conntrack',
  strace: 'strace',
};

function have(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

/** Exits with a message unless running as root (namespaces and nft need it). */
function assertRoot() {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: needs root (network namespaces, nftables); run with sudo\n');
    process.exit(2);
  }
}

/** Installs the Debian packages of whichever of `bins` are missing. */
function ensureTools(bins, log = () => undefined) {
  const missing = [...new Set(bins.filter((b) => !have(b)).map((b) => TOOLS[b] ?? b))];
  if (missing.length === 0) return;
  log(`installing ${missing.join(' ')} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  const still = bins.filter((b) => !have(b));
  if (still.length > 0) throw new Error(`still missing after apt-get install: ${still.join(', ')}`);
}

/** Hard and soft RLIMIT_NOFILE of this process (Node has no getrlimit). */
function fileLimits() {
  const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line ?? '').trim().split(/\s+/).slice(3, 5).map(Number);
  return { soft, hard };
}

/** `pid` and its descendants (Sluice's `workers` run as child processes). */
function processTree(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks = [];
    try {
      tasks = fs.readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        for (const c of fs.readFileSync(`/proc/${out[i]}/task/${t}/children`, 'utf8').trim().split(/\s+/)) if (c) out.push(Number(c));
      } catch {
        // Task gone.
      }
    }
  }
  return out;
}

/** Short commit of the tree being measured, with `+dirty` when sources outside bench/ and docs/ differ from it. */
function treeCommit() {
  const root = require('node:path').resolve(__dirname, '../..');
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'packages'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return undefined;
  }
}

/** What the results table says about the machine (and the commit measured). */
function machineInfo() {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  let nproc = os.cpus().length;
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    // os.cpus() is close enough.
  }
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    nproc,
    cpu: model,
    kernel: os.release(),
    node: process.version,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    commit: treeCommit(),
  };
}

module.exports = { TOOLS, have, assertRoot, ensureTools, fileLimits, machineInfo, processTree };
