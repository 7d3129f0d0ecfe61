'use strict';
/**
 * The three ways the gateway carries traffic in a benchmark:
 * - `plain`: the gateway only routes (no TPROXY rules, no proxy) — the ceiling;
 * - `sluice`: `sluice run` in the gateway, firewall from `sluice rules`;
 * - `v2ray`: Debian's v2ray, dokodemo-door with `sockopt.tproxy`, freedom
 *   outbound, behind the same firewall (rendered by `sluice rules` for its port);
 * - `haproxy`: Debian's HAProxy (TCP only), `bind … transparent` and a
 *   server at 0.0.0.0 (each connection's original destination), behind the
 *   same firewall;
 * - `node-floor`: bench/lib/node-floor.js (TCP only), Sluice's native accept
 *   and connect-and-splice with nothing around them: the floor of a Node proxy.
 * In the proxy modes the gateway also drops everything it would forward, so a
 * proxy that is down (or a rule that does not match) fails the run instead of
 * silently measuring plain forwarding.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ROOT, loadNetns, waitListening } = require('./topo');
const { fileLimits, processTree } = require('./env');

const SLUICE_BIN = path.join(ROOT, 'packages/core/bin/sluice.js');
/** Inbound ports in the gateway, one per proxy mode so all can run side by side. */
const PORTS = { sluice: 15001, v2ray: 15002, 'sluice-nosplice': 15003, 'sluice-workers': 15004, 'sluice-info': 15005, 'sluice-base': 15006, haproxy: 15007, 'sluice-sniff': 15008, 'sluice-offload': 15009, 'node-floor': 15010, 'sluice-threads': 15011 };
/** Peers that carry TCP only (no UDP listener to wait for). */
const TCP_ONLY = new Set(['haproxy', 'node-floor']);
const BYPASS_MARK = 2;

/**
 * Sluice variants, opt-in with --modes: lines added to the config of issue #4.
 * `sluice` itself is that config unchanged (the splice relay on, one event loop).
 * A `log:` line replaces the config's own (YAML keys must not repeat).
 */
const SLUICE_VARIANTS = {
  sluice: [],
  'sluice-nosplice': ['relay: { splice: false }'],
  'sluice-workers': ['workers: auto'],
  // The same event loops as worker threads of one process.
  'sluice-threads': ['workers: auto', 'worker_mode: thread'],
  // Every flow writes its access-log line ("flow closed", level info).
  'sluice-info': ['log: { level: info }'],
  // The same config run by another checkout's build (SLUICE_BASE_BIN): before/after comparisons in one run.
  'sluice-base': [],
  // The inbound reads each flow's first bytes for a name (TLS SNI, HTTP Host) before routing: see INBOUND_VARIANTS.
  'sluice-sniff': [],
  // firewall.offload with a leading rule sending the remote to direct: the kernel forwards the benchmark's flows.
  get 'sluice-offload'() {
    return offloadLines();
  },
};

/**
 * The config lines of `sluice-offload`: the remote's addresses go to
 * `direct` by the first rule, which `firewall.offload` compiles into nft sets,
 * so the benchmark's flows are forwarded by the gateway's kernel (and counted
 * by the offload counters) instead of reaching Sluice.
 */
function offloadLines() {
  const { remote } = loadNetns().TOPOLOGY_ADDRESSES;
  return [
    'firewall: { offload: true }',
    `route: { rules: [{ name: offloaded, dst_cidr: [${remote.v4}/32, "${remote.v6}/128"], outbound: direct }], final: direct }`,
  ];
}

/** Modes whose flows the gateway forwards (offloaded), so the final drop cannot stay in place. */
const FORWARDING_MODES = new Set(['sluice-offload']);

/** Keys a variant adds to its inbound's line (inbound keys cannot go in SLUICE_VARIANTS' top-level lines). */
const INBOUND_VARIANTS = {
  'sluice-sniff': 'sniff: true',
};

/**
 * Caps for the benchmarks, which hold as many TCP flows as the open-file limit allows (bench/memory.js):
 * the derived default of `limits.max_tcp_flows` keeps a quarter of the fds
 * for UDP sessions and would refuse some of them. Not given to `sluice-base`,
 * whose older config has no `limits` key.
 */
const BENCH_LIMITS = ['limits: { max_tcp_flows: 20000 }', 'udp: { max_sessions: 1000 }'];

/** The `sluice` bin a variant runs: another checkout's for `sluice-base`, this one's otherwise. */
function sluiceBin(kind) {
  if (kind !== 'sluice-base') return SLUICE_BIN;
  const bin = process.env.SLUICE_BASE_BIN;
  if (!bin || !fs.existsSync(bin)) throw new Error('mode sluice-base needs SLUICE_BASE_BIN=<another checkout>/packages/core/bin/sluice.js (built)');
  return bin;
}

/**
 * Variants whose stdout (the JSON log) goes to a file in the bench workdir,
 * as a production deployment's would (a file or journald), rather than
 * through a pipe that the bench parses line by line: at a line per flow
 * (`node bench/conn-rate.js --modes sluice-info` logs how many each sample
 * wrote) that parsing would compete with Sluice for the same two CPUs.
 */
const LOG_TO_FILE = new Set(['sluice-info']);

function sluiceConfig(port, extra = [], inbound = '') {
  const log = extra.find((l) => l.startsWith('log:')) ?? 'log: { level: warn }';
  // A `route:` block (bench/scaling.js's rule counts) replaces the default one.
  const route = extra.find((l) => l.startsWith('route:')) ?? 'route: { rules: [], final: direct }';
  extra = extra.filter((l) => !l.startsWith('log:') && !l.startsWith('route:'));
  return [
    log,
    'inbounds:',
    `  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: ${port}, network: [tcp, udp]${inbound ? `, ${inbound}` : ''} }`,
    'outbounds:',
    `  - { tag: direct, type: direct, mark: 0x${BYPASS_MARK.toString(16)} }`,
    route,
    ...extra,
    '',
  ].join('\n');
}

function v2rayConfig(port) {
  return {
    log: { loglevel: 'warning' },
    inbounds: [
      {
        tag: 'tproxy-in',
        listen: '127.0.0.1',
        port,
        protocol: 'dokodemo-door',
        settings: { network: 'tcp,udp', followRedirect: true },
        streamSettings: { sockopt: { tproxy: 'tproxy' } },
      },
    ],
    outbounds: [{ tag: 'direct', protocol: 'freedom', settings: {}, streamSettings: { sockopt: { mark: BYPASS_MARK } } }],
  };
}

/**
 * HAProxy as users put it in front of TPROXY'd traffic: a transparent bind,
 * and `server … 0.0.0.0` so each connection goes to its original destination
 * and port. One process with a thread per CPU (2.6's default), no logging,
 * timeouts like Sluice's defaults.
 */
function haproxyConfig(port) {
  return [
    'global',
    // Two fds per connection: what fits under the hard open-file limit of 20,000 here.
    '  maxconn 9000',
    'defaults',
    '  mode tcp',
    '  timeout connect 10s',
    '  timeout client 300s',
    '  timeout server 300s',
    'frontend tproxy_in',
    `  bind 127.0.0.1:${port} transparent`,
    '  default_backend original_destination',
    'backend original_destination',
    '  server orig 0.0.0.0',
    '',
  ].join('\n');
}

/**
 * The same gateway ruleset `sluice rules` renders (v0 of it, kept for when the
 * CLI is broken mid-edit): used only if `sluice rules` fails.
 */
function fallbackRules(port) {
  const nft = `table inet sluice_bench {}
delete table inet sluice_bench
table inet sluice_bench {
  chain prerouting {
    type filter hook prerouting priority mangle; policy accept;
    meta mark & 0x${BYPASS_MARK.toString(16)} == 0x${BYPASS_MARK.toString(16)} return
    fib daddr type local return
    iif lo return
    meta l4proto tcp tcp flags & (syn | ack) != syn socket transparent 1 meta mark set 0x1 accept
    meta nfproto ipv4 meta l4proto { tcp, udp } tproxy ip to 127.0.0.1:${port} meta mark set 0x1 accept
  }
}
`;
  return {
    nft,
    up: ['ip rule add fwmark 0x1 lookup 100', 'ip route add local default dev lo table 100'],
    down: ['ip rule del fwmark 0x1 lookup 100', 'ip route del local default dev lo table 100'],
    removeNft: 'table inet sluice_bench {}\ndelete table inet sluice_bench\n',
  };
}

/** Switches the gateway's firewall between the modes. */
class GatewayFirewall {
  constructor(topo, workdir, log) {
    this.topo = topo;
    this.workdir = workdir;
    this.log = log;
    this.netns = loadNetns();
    /** What is installed now: undefined (plain), or { port, how }. */
    this.current = undefined;
    this.warnedFallback = false;
  }

  configFor(port) {
    const file = path.join(this.workdir, `rules-${port}.yaml`);
    if (!fs.existsSync(file)) fs.writeFileSync(file, sluiceConfig(port, port === PORTS['sluice-offload'] ? offloadLines() : []));
    return file;
  }

  /**
   * Bytes the offload counters saw since the ruleset was loaded (`nft -j list
   * counters`), both directions; throws when the table has no offload counters.
   */
  async offloadedBytes() {
    const r = await this.topo.exec('gw', 'nft', ['-j', 'list', 'counters', 'table', 'inet', 'sluice']);
    const counters = JSON.parse(r.stdout).nftables.filter((x) => x.counter && x.counter.name.startsWith('offload_'));
    if (counters.length !== 2) throw new Error(`no offload counters in table inet sluice:\n${r.stdout}`);
    return counters.reduce((sum, x) => sum + x.counter.bytes, 0);
  }

  /** Plain routing (no port) or TPROXY to `port` behind a final drop. */
  async use(port) {
    if (this.current?.port === port) return;
    await this.clear();
    if (port === undefined) return;
    // An offloaded flow is forwarded by design; bench/lib/harness.js checks the offload counters moved instead.
    const forwarding = [...FORWARDING_MODES].some((m) => PORTS[m] === port);
    if (!forwarding) await this.topo.installFinalDrop();
    const cfg = this.configFor(port);
    const r = await this.netns.runSluice(this.topo, ['rules', '-c', cfg, '--apply'], { allowFailure: true });
    if (r.code === 0) {
      this.current = { port, how: 'sluice', cfg };
      return;
    }
    if (!this.warnedFallback) {
      this.log.warn(`sluice rules --apply failed (${(r.stderr || r.stdout).trim().split('\n').pop()}); using the bench's copy of the ruleset`);
      this.warnedFallback = true;
    }
    const fb = fallbackRules(port);
    await this.topo.installFirewall('gw', fb.nft, fb.up);
    this.current = { port, how: 'fallback', fb };
  }

  /** Back to a plain router. */
  async clear() {
    const cur = this.current;
    this.current = undefined;
    if (cur?.how === 'sluice') {
      await this.netns.runSluice(this.topo, ['rules', '-c', cur.cfg, '--remove']);
    } else if (cur?.how === 'fallback') {
      await this.topo.installFirewall('gw', cur.fb.removeNft, []);
      for (const line of cur.fb.down) await this.topo.exec('gw', 'ip', line.split(' ').slice(1), { allowFailure: true });
    }
    await this.topo.removeFinalDrop();
  }
}

/** A proxy process in the gateway namespace. */
class ProxyProcess {
  /**
   * @param kind 'v2ray', 'sluice' or a Sluice variant (see SLUICE_VARIANTS)
   * @param opts.listenTimeoutMs how long it may take to listen (default 15 s; a 100,000-rule config takes longer)
   * @param opts.configLines more config lines for a Sluice variant (a `route:` block replaces the default)
   * @param opts.nodeArgs node flags for Sluice, e.g. `['--cpu-prof', '--cpu-prof-dir=…']`
   *   (Node 20 refuses --cpu-prof in NODE_OPTIONS, so they go on the command line)
   */
  constructor(topo, kind, workdir, log, opts = {}) {
    this.topo = topo;
    this.kind = kind;
    this.port = PORTS[kind];
    this.workdir = workdir;
    this.log = log;
    this.opts = opts;
    this.watch = undefined;
  }

  /** Lines of the log file so far (LOG_TO_FILE variants), for checking that the access log was written. */
  logLines() {
    if (!this.logFile) return 0;
    const text = fs.readFileSync(this.logFile, 'utf8');
    let n = 0;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
    return n;
  }

  get pid() {
    return this.watch?.child.pid;
  }

  async start() {
    const netns = loadNetns();
    let child;
    if (SLUICE_VARIANTS[this.kind]) {
      const cfg = path.join(this.workdir, `${this.kind}-${this.port}.yaml`);
      const lines = [...SLUICE_VARIANTS[this.kind], ...(this.opts.configLines ?? [])];
      fs.writeFileSync(cfg, sluiceConfig(this.port, this.kind === 'sluice-base' ? lines : [...lines, ...BENCH_LIMITS]));
      const args = [...(this.opts.nodeArgs ?? []), sluiceBin(this.kind), 'run', '-c', cfg];
      if (LOG_TO_FILE.has(this.kind)) {
        this.logFile = path.join(this.workdir, `${this.kind}-${this.port}.log`);
        const out = fs.openSync(this.logFile, 'a');
        child = this.topo.spawn('gw', process.execPath, args, { stdio: ['ignore', out, 'pipe'] });
        fs.closeSync(out);
      } else {
        // An older checkout resolves plugins from the working directory first: run it from its own tree.
        const cwd = this.kind === 'sluice-base' ? path.resolve(path.dirname(sluiceBin(this.kind)), '../../..') : undefined;
        child = this.topo.spawn('gw', process.execPath, args, cwd ? { cwd } : {});
      }
    } else if (this.kind === 'node-floor') {
      child = this.topo.spawn('gw', process.execPath, [...(this.opts.nodeArgs ?? []), path.join(__dirname, 'node-floor.js'), String(this.port), String(BYPASS_MARK)]);
    } else if (this.kind === 'haproxy') {
      const cfg = path.join(this.workdir, `haproxy-${this.port}.cfg`);
      fs.writeFileSync(cfg, haproxyConfig(this.port));
      // -db: foreground, no daemon, so the watch sees it exit.
      child = this.topo.spawn('gw', 'haproxy', ['-db', '-f', cfg]);
    } else {
      const cfg = path.join(this.workdir, `v2ray-${this.port}.json`);
      fs.writeFileSync(cfg, JSON.stringify(v2rayConfig(this.port), null, 2));
      child = this.topo.spawn('gw', 'v2ray', ['-config', cfg]);
    }
    this.watch = new netns.ChildWatch(child, `${this.kind} in ${this.topo.names.gw}`);
    await waitListening(this.topo, 'gw', this.port, { watch: this.watch, timeoutMs: this.opts.listenTimeoutMs });
    if (!TCP_ONLY.has(this.kind)) await waitListening(this.topo, 'gw', this.port, { proto: 'udp', watch: this.watch });
    // Each proxied TCP flow holds two fds; let the proxy use the whole hard limit.
    const { hard } = fileLimits();
    await this.topo.exec('gw', 'prlimit', ['--pid', String(this.pid), `--nofile=${hard}:${hard}`], { allowFailure: true });
    this.log.debug(`${this.kind} pid ${this.pid} listening on ${this.port}`);
  }

  /** Throws (with the process's output) if it has died. */
  assertAlive() {
    if (!this.watch || this.watch.exitStatus) {
      const tail = this.logFile ? `\n${fs.readFileSync(this.logFile, 'utf8').split('\n').slice(-30).join('\n')}` : '';
      throw new Error(`${this.kind} is not running${this.watch ? `\n${this.watch.describe(30)}` : ''}${tail}`);
    }
  }

  /**
   * Resident set size in KiB, from /proc/<pid>/status, summed over the
   * process and its descendants (Sluice's `workers` are child processes;
   * their shared code pages are counted once per process, which a slope over
   * flows cancels out).
   */
  rssKiB() {
    let sum = 0;
    for (const p of processTree(this.pid)) {
      try {
        sum += Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
      } catch {
        // Exited in between.
      }
    }
    return sum;
  }

  /** Open fds of the process and its descendants. */
  fdCount() {
    let sum = 0;
    for (const p of processTree(this.pid)) {
      try {
        sum += fs.readdirSync(`/proc/${p}/fd`).length;
      } catch {
        // Exited in between.
      }
    }
    return sum;
  }

  /** Stops it with SIGTERM (so a --cpu-prof profile gets written), SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000) {
    const w = this.watch;
    if (!w || w.exitStatus) return;
    const timer = setTimeout(() => w.child.kill('SIGKILL'), graceMs);
    await w.stop('SIGTERM');
    clearTimeout(timer);
  }
}

function makeWorkdir(name) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `sluice-bench-${name}-`));
}

module.exports = { PORTS, FORWARDING_MODES, SLUICE_VARIANTS, sluiceConfig, v2rayConfig, haproxyConfig, fallbackRules, GatewayFirewall, ProxyProcess, makeWorkdir, SLUICE_BIN };
