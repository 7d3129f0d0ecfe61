'use strict';
/**
 * What bench/socks-throughput.js needs beyond the shared harness: dante as a
 * SOCKS upstream in the remote namespace, a Sluice whose route ends in a
 * `socks` outbound to it, the CPU of every danted process, and the script's
 * own section of docs/benchmarks.md (between its markers, at the end of the
 * file; the rest of the file belongs to the other scripts and to people).
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { have, fileLimits } = require('./env');
const { ROOT, loadNetns, waitListening } = require('./topo');
const { ProxyProcess, SLUICE_BIN } = require('./proxies');

const DANTE_PORT = 1080;
/** Inbound port of the Sluice with the socks outbound (15001/15002 are the other proxies'). */
const SOCKS_SLUICE_PORT = 15003;

const DOC = path.join(ROOT, 'docs/benchmarks.md');
const BEGIN = '<!-- bench:socks:begin -->';
const END = '<!-- bench:socks:end -->';

/** Installs dante-server with apt-get when danted is missing (env.ensureTools has no entry for it). */
function ensureDante(log) {
  if (have('danted')) return;
  log.info('installing dante-server (apt-get)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'dante-server'], { stdio: 'inherit', env });
  if (!have('danted')) throw new Error('danted still missing after apt-get install dante-server');
}

/**
 * dante as design.md's pitfalls say: a concrete `external:`, the commands a
 * client may use, and connect/disconnect logged (one line per session, not
 * per byte) so the bench can check that the socks mode really went through it.
 */
function danteConfig(address) {
  return [
    'logoutput: stderr',
    `internal: ${address} port = ${DANTE_PORT}`,
    `external: ${address}`,
    'clientmethod: none',
    'socksmethod: none',
    'user.privileged: root',
    'user.unprivileged: nobody',
    'client pass {\n  from: 0.0.0.0/0 to: 0.0.0.0/0\n}',
    'socks pass {\n  from: 0.0.0.0/0 to: 0.0.0.0/0\n  command: bind connect udpassociate bindreply udpreply\n  log: connect disconnect error\n}',
    '',
  ].join('\n');
}

/** Starts danted on the remote's address (where a real upstream would be) and waits until it listens. */
async function startDante(topo, workdir, log) {
  const netns = loadNetns();
  const address = topo.addresses.remote.v4;
  const conf = path.join(workdir, 'danted.conf');
  fs.writeFileSync(conf, danteConfig(address));
  const watch = new netns.ChildWatch(topo.spawn('remote', 'danted', ['-f', conf, '-p', path.join(workdir, 'danted.pid')]), `danted in ${topo.names.remote}`);
  await waitListening(topo, 'remote', DANTE_PORT, { watch });
  log.debug(`danted pid ${watch.child.pid} on ${address}:${DANTE_PORT}`);
  return { watch, address, port: DANTE_PORT, version: danteVersion() };
}

function danteVersion() {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', 'dante-server'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** Pids of every danted process in the remote namespace (the mother and the children it forked). */
async function dantePids(topo) {
  const out = [];
  for (const pid of await topo.pids('remote')) {
    try {
      if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'danted') out.push(pid);
    } catch {
      // Exited meanwhile.
    }
  }
  return out;
}

/** The config of the Sluice whose every flow goes to dante through a `socks` outbound of its own. */
function socksSluiceConfig(port, dante) {
  return [
    'log: { level: warn }',
    'inbounds:',
    `  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: ${port}, network: [tcp, udp] }`,
    'outbounds:',
    `  - { tag: dante, type: socks, server: ${dante.address}, port: ${dante.port} }`,
    'route: { rules: [], final: dante }',
    '',
  ].join('\n');
}

/**
 * `sluice run` in the gateway with {@link socksSluiceConfig}. Everything else
 * (assertAlive, stop, CPU and rss probes, the firewall switching to its port)
 * is the harness's ProxyProcess.
 */
class SocksSluiceProcess extends ProxyProcess {
  constructor(topo, workdir, log, dante, opts = {}) {
    super(topo, 'sluice', workdir, log, opts);
    this.kind = 'sluice-socks';
    this.port = SOCKS_SLUICE_PORT;
    this.dante = dante;
  }

  async start() {
    const netns = loadNetns();
    const cfg = path.join(this.workdir, `sluice-socks-${this.port}.yaml`);
    fs.writeFileSync(cfg, socksSluiceConfig(this.port, this.dante));
    this.configText = fs.readFileSync(cfg, 'utf8');
    const child = this.topo.spawn('gw', process.execPath, [...(this.opts.nodeArgs ?? []), SLUICE_BIN, 'run', '-c', cfg]);
    this.watch = new netns.ChildWatch(child, `${this.kind} in ${this.topo.names.gw}`);
    await waitListening(this.topo, 'gw', this.port, { watch: this.watch });
    await waitListening(this.topo, 'gw', this.port, { proto: 'udp', watch: this.watch });
    const { hard } = fileLimits();
    await this.topo.exec('gw', 'prlimit', ['--pid', String(this.pid), `--nofile=${hard}:${hard}`], { allowFailure: true });
    this.log.debug(`${this.kind} pid ${this.pid} listening on ${this.port}`);
  }
}

/**
 * Replaces the text between this script's markers in docs/benchmarks.md, or
 * appends markers and text at the end of the file. Read and written back at
 * once, so a concurrent edit elsewhere in the file is not lost unless it
 * lands in those few milliseconds.
 */
function writeSocksSection(body) {
  const block = `${BEGIN}\n${body.trim()}\n${END}`;
  const doc = fs.existsSync(DOC) ? fs.readFileSync(DOC, 'utf8') : '# Benchmarks\n';
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  const next = a >= 0 && b > a ? doc.slice(0, a) + block + doc.slice(b + END.length) : `${doc.trimEnd()}\n\n${block}\n`;
  fs.writeFileSync(DOC, next);
  return DOC;
}

module.exports = { DANTE_PORT, SOCKS_SLUICE_PORT, ensureDante, danteConfig, startDante, dantePids, socksSluiceConfig, SocksSluiceProcess, writeSocksSection };
