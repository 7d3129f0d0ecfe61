#!/usr/bin/env node
'use strict';
/**
 * Soak: Sluice in the gateway of a client ─ gw ─ remote topology, carrying a
 * steady mix for N minutes: long-lived TCP flows echoing data, TCP connection
 * churn (open, echo, close), UDP sessions from rotating source ports to a UDP
 * echo server, and DNS queries to dnsmasq. Every minute it prints Sluice's
 * RSS and open fds and what the load saw; at the end the verdict:
 *
 * - RSS growth after warm-up (a tenth of the run, from 1 to 5 minutes, or
 *   the first third of a run under 3 minutes) under 10 %: a 30-minute run
 *   (`npm run soak -- --minutes 30`, whose per-minute lines show it) grew
 *   66.8 → 74.5 MiB over its minutes 1-3 and then stayed flat, so one
 *   minute measured V8's heap settling, not a leak,
 * - open fds back to the idle baseline once the load has stopped and the
 *   flows have drained,
 * - no error in Sluice's log (no line at level error or above, no access-log
 *   line with an error) and no failed request on the client side.
 *
 *   npm run soak -- --minutes N
 *
 * Exits 0 when the verdict is PASS, 1 otherwise. Needs root (namespaces) and
 * dnsmasq. Not part of `npm test`.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { createInterface } = require('node:readline');
const { parseArgs } = require('node:util');
const { loadNetns } = require('./lib/topo');

const USAGE = 'usage: npm run soak -- [--minutes N] [--tcp-hold N] [--churn-per-s N] [--udp-per-s N] [--dns-per-s N]';

/** The load generator, run in the client namespace: plain Node, no dependencies. */
const LOAD = `
const net = require('net');
const dgram = require('dgram');
const cfg = JSON.parse(process.argv[2]);
const stats = { tcpEchoes: 0, tcpFailed: 0, churned: 0, churnFailed: 0, udpAnswers: 0, udpSent: 0, dnsAnswers: 0, dnsSent: 0 };
const timers = [];
let stopping = false;
const every = (ms, f) => timers.push(setInterval(f, ms));

// Long-lived flows: each sends 1 KiB every 200 ms and checks the echo.
const held = [];
function hold(i) {
  const s = net.connect({ host: cfg.host, port: cfg.tcpPort });
  const chunk = Buffer.alloc(1024, 97 + (i % 26));
  let expect = 0;
  s.on('data', (d) => { expect -= d.length; if (expect === 0) stats.tcpEchoes++; });
  s.on('error', () => { if (!stopping) stats.tcpFailed++; });
  s.on('close', () => { if (!stopping) setTimeout(() => (held[i] = hold(i)), 100); });
  s.tick = () => { if (s.writable && expect === 0) { expect = chunk.length; s.write(chunk); } };
  return s;
}
for (let i = 0; i < cfg.tcpHold; i++) held.push(hold(i));
every(200, () => held.forEach((s) => s.tick && s.tick()));

// Churn: short connections, one echo each, then a clean close.
every(100, () => {
  for (let i = 0; i < cfg.churnPerS / 10; i++) {
    const s = net.connect({ host: cfg.host, port: cfg.tcpPort });
    const timer = setTimeout(() => { stats.churnFailed++; s.destroy(); }, 5000);
    s.once('data', () => { clearTimeout(timer); stats.churned++; s.end(); });
    s.on('error', () => { clearTimeout(timer); stats.churnFailed++; });
    s.write('churn');
  }
});

// UDP: a pool of sockets (sessions); one is replaced every second, so sessions keep opening and idling out.
const udp = [];
function udpSocket() {
  const u = dgram.createSocket('udp4');
  u.on('message', () => stats.udpAnswers++);
  u.on('error', () => {});
  u.bind(0, cfg.client);
  return u;
}
for (let i = 0; i < 20; i++) udp.push(udpSocket());
let rotate = 0;
every(1000, () => { const i = rotate++ % udp.length; udp[i].close(); udp[i] = udpSocket(); });
every(100, () => {
  for (let i = 0; i < cfg.udpPerS / 10; i++) {
    const u = udp[(i + rotate) % udp.length];
    stats.udpSent++;
    u.send(Buffer.from('soak datagram'), cfg.udpPort, cfg.host, () => {});
  }
});

// DNS: A queries for names under example.test from a few rotating sockets.
function query(id, name) {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const head = Buffer.alloc(12);
  head.writeUInt16BE(id, 0); head.writeUInt16BE(0x0100, 2); head.writeUInt16BE(1, 4);
  return Buffer.concat([head, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}
const dns = [];
for (let i = 0; i < 4; i++) { const u = udpSocket(); u.removeAllListeners('message'); u.on('message', () => stats.dnsAnswers++); dns.push(u); }
let qid = 0;
every(100, () => {
  for (let i = 0; i < cfg.dnsPerS / 10; i++) {
    qid = (qid + 1) & 0xffff;
    stats.dnsSent++;
    dns[qid % dns.length].send(query(qid, 'q' + qid + '.example.test'), 53, cfg.host, () => {});
  }
});

every(1000, () => process.stdout.write(JSON.stringify({ event: 'stats', ...stats }) + '\\n'));
process.stdin.on('data', () => {
  stopping = true;
  timers.forEach(clearInterval);
  held.forEach((s) => s.end());
  udp.forEach((u) => u.close());
  dns.forEach((u) => u.close());
  setTimeout(() => { process.stdout.write(JSON.stringify({ event: 'stopped', ...stats }) + '\\n'); process.exit(0); }, 2000);
});
`;

/** TCP echo server for the remote namespace. */
const ECHO = `
const net = require('net');
const dgram = require('dgram');
const host = process.argv[2];
const tcp = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
const udp = dgram.createSocket('udp4');
udp.on('message', (m, r) => udp.send(m, r.port, r.address));
tcp.listen(0, host, () => udp.bind(0, host, () =>
  console.log(JSON.stringify({ event: 'listening', tcpPort: tcp.address().port, udpPort: udp.address().port }))));
`;

function rss(pid) {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}
const fds = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
/** What each fd is (`socket:[…]`, `pipe:[…]`, `anon_inode:[eventpoll]` …), by number. */
function fdTable(pid) {
  const out = new Map();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.set(fd, fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}
const mib = (b) => `${(b / 1048576).toFixed(1)} MiB`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '30' },
      'tcp-hold': { type: 'string', default: '50' },
      'churn-per-s': { type: 'string', default: '50' },
      'udp-per-s': { type: 'string', default: '200' },
      'dns-per-s': { type: 'string', default: '100' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return console.log(USAGE);
  const minutes = Number(values.minutes);
  if (!(minutes > 0)) throw new Error(`--minutes: must be a positive number\n${USAGE}`);
  if (process.getuid?.() !== 0) throw new Error('soak: needs root (network namespaces)');

  const netns = loadNetns();
  const A = netns.TOPOLOGY_ADDRESSES;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-soak-'));
  const topo = await netns.createTopology({ prefix: `soak${process.pid}`.slice(0, 16) });
  topo.destroyOnExit();
  const children = [];
  try {
    const config = path.join(tmp, 'sluice.yaml');
    fs.writeFileSync(config, netns.demoConfig({ udpIdleMs: 2000, drainMs: 1000 }));
    await netns.applySluiceRules(topo, config);
    await topo.installFinalDrop();

    const echoFile = path.join(tmp, 'echo.js');
    fs.writeFileSync(echoFile, ECHO);
    const echo = new netns.ChildWatch(topo.spawn('remote', process.execPath, [echoFile, A.remote.v4]), 'echo');
    children.push(echo);
    const ports = await echo.waitFor((l) => l.event === 'listening', 10_000, 'echo listening');
    const dnsmasq = new netns.ChildWatch(
      topo.spawn('remote', 'dnsmasq', ['--no-daemon', '--no-resolv', '--no-hosts', '--pid-file=', `--listen-address=${A.remote.v4}`, '--bind-interfaces', '--address=/example.test/192.0.2.7']),
      'dnsmasq',
    );
    children.push(dnsmasq);
    await dnsmasq.waitUntil(() => (/started, version/.test(dnsmasq.stderr) ? true : undefined), 5000, 'dnsmasq started');

    // Sluice's log is counted as it streams, not kept: a long run writes an access line per flow (`flows logged`).
    const child = topo.spawn('gw', process.execPath, [netns.SLUICE_BIN, 'run', '-c', config]);
    const sluiceLog = { flows: 0, flowErrors: 0, errors: 0, samples: [], started: false };
    createInterface({ input: child.stdout }).on('line', (line) => {
      let l;
      try {
        l = JSON.parse(line);
      } catch {
        l = { level: 50, msg: line };
      }
      if (l.msg === 'sluice started') sluiceLog.started = true;
      if (l.msg === 'flow closed') sluiceLog.flows++;
      const bad = (l.msg === 'flow closed' && l.error !== undefined) || l.level >= 50;
      if (l.msg === 'flow closed' && l.error !== undefined) sluiceLog.flowErrors++;
      else if (l.level >= 50) sluiceLog.errors++;
      if (bad && sluiceLog.samples.length < 5) sluiceLog.samples.push(line);
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    children.push({ stop: () => new Promise((r) => (child.exitCode !== null ? r() : (child.once('exit', r), child.kill('SIGTERM')))) });
    for (let i = 0; !sluiceLog.started; i++) {
      if (i > 100 || child.exitCode !== null) throw new Error(`sluice did not start\n${stderr}`);
      await sleep(100);
    }
    const pid = child.pid;
    // One TCP flow first: the native TCP path opens its per-loop epoll set on first use and keeps it (one fd
    // that is not a leak); then past the splice pipes' 5 s free-pipe timeout, before the idle baseline.
    await topo.exec('client', 'socat', ['-T', '2', '-', `TCP4:${A.remote.v4}:${ports.tcpPort}`], { input: 'prime\n' });
    await sleep(6000);
    const idle = { rss: rss(pid), fds: fds(pid), table: fdTable(pid) };
    console.log(`soak: ${minutes} min; Sluice pid ${pid} idle (after one TCP flow): RSS ${mib(idle.rss)}, ${idle.fds} fds`);

    const loadFile = path.join(tmp, 'load.js');
    fs.writeFileSync(loadFile, LOAD);
    const cfg = {
      host: A.remote.v4,
      client: A.client.v4,
      tcpPort: ports.tcpPort,
      udpPort: ports.udpPort,
      tcpHold: Number(values['tcp-hold']),
      churnPerS: Number(values['churn-per-s']),
      udpPerS: Number(values['udp-per-s']),
      dnsPerS: Number(values['dns-per-s']),
    };
    console.log(`load: ${cfg.tcpHold} TCP flows echoing 1 KiB / 200 ms, ${cfg.churnPerS} new TCP connections/s, ${cfg.udpPerS} UDP datagrams/s over 20 rotating sessions, ${cfg.dnsPerS} DNS queries/s`);
    const load = new netns.ChildWatch(topo.spawn('client', process.execPath, [loadFile, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'pipe'] }), 'load');
    children.push(load);
    const lastStats = () => [...load.lines].reverse().find((l) => l.event === 'stats') ?? {};

    const warmupMin = minutes >= 3 ? Math.min(5, Math.max(1, minutes / 10)) : minutes / 3;
    const totalMs = minutes * 60_000;
    const started = Date.now();
    let warm;
    const samples = [];
    let nextMinute = 1;
    console.log('minute  RSS        fds   flows logged  tcp echoes  churned  udp answers/sent  dns answers/sent');
    while (Date.now() - started < totalMs) {
      await sleep(1000);
      const elapsed = Date.now() - started;
      if (load.exitStatus || child.exitCode !== null) throw new Error(`${load.exitStatus ? 'the load generator' : 'Sluice'} exited early\n${stderr}${load.stderr}`);
      if (!warm && elapsed >= warmupMin * 60_000) warm = { rss: rss(pid), fds: fds(pid) };
      if (elapsed >= nextMinute * 60_000 || elapsed >= totalMs) {
        const s = lastStats();
        const sample = { minute: Math.round((elapsed / 60_000) * 10) / 10, rss: rss(pid), fds: fds(pid) };
        samples.push(sample);
        console.log(
          `${String(sample.minute).padEnd(7)} ${mib(sample.rss).padEnd(10)} ${String(sample.fds).padEnd(5)} ${String(sluiceLog.flows).padEnd(13)} ${String(s.tcpEchoes).padEnd(11)} ${String(s.churned).padEnd(8)} ${`${s.udpAnswers}/${s.udpSent}`.padEnd(17)} ${s.dnsAnswers}/${s.dnsSent}`,
        );
        nextMinute++;
      }
    }
    const end = { rss: rss(pid), fds: fds(pid) };
    load.child.stdin.write('stop\n');
    const stopped = await load.waitFor((l) => l.event === 'stopped', 15_000, 'load stopped');
    // UDP sessions idle out (2 s), free splice pipes are closed (5 s) and the reply sockets the native
    // UDP socket caches per original destination after 60 s unused: then the fds should be back.
    let after = fds(pid);
    for (let i = 0; i < 90 && after > idle.fds; i++) {
      await sleep(1000);
      after = fds(pid);
    }
    const growth = (end.rss - warm.rss) / warm.rss;
    const clientFailures = stopped.tcpFailed + stopped.churnFailed;
    const checks = [
      [`RSS after warm-up ${mib(warm.rss)} → end ${mib(end.rss)}: ${(growth * 100).toFixed(1)} % (limit 10 %)`, growth < 0.1],
      [`fds: idle ${idle.fds}, under load ${end.fds}, after the load ${after}`, after <= idle.fds],
      [`Sluice log: ${sluiceLog.flows} flows logged, ${sluiceLog.flowErrors} with an error, ${sluiceLog.errors} error lines`, sluiceLog.flowErrors === 0 && sluiceLog.errors === 0],
      [
        `client: ${stopped.tcpEchoes} echoes on held flows, ${stopped.churned} churned connections, ${clientFailures} TCP failures; UDP ${stopped.udpAnswers}/${stopped.udpSent} answered, DNS ${stopped.dnsAnswers}/${stopped.dnsSent} answered`,
        clientFailures === 0 && stopped.tcpEchoes > 0 && stopped.churned > 0 && stopped.udpAnswers > 0 && stopped.dnsAnswers > 0,
      ],
    ];
    for (const [text, ok] of checks) console.log(`${ok ? 'ok  ' : 'FAIL'} ${text}`);
    for (const line of sluiceLog.samples) console.log(`  log: ${line}`);
    if (after > idle.fds) {
      const extra = [...fdTable(pid)].filter(([fd, target]) => idle.table.get(fd) !== target);
      console.log(`  fds not open when idle: ${extra.map(([fd, target]) => `${fd} → ${target}`).join(', ')}`);
    }
    const pass = checks.every(([, ok]) => ok);
    console.log(`verdict: ${pass ? 'PASS' : 'FAIL'}`);
    process.exitCode = pass ? 0 : 1;
  } finally {
    for (const c of children.reverse()) await c.stop('SIGKILL').catch?.(() => undefined);
    await topo.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`soak: ${err.stack ?? err}`);
  process.exit(1);
});
