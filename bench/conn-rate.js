#!/usr/bin/env node
'use strict';
/**
 * New connections per second: wrk with `Connection: close` (one request per
 * connection) in the client namespace against nginx (Debian's, what users
 * run) in the remote. Plain forwarding vs Sluice vs v2ray, interleaved. TIME_WAIT from
 * one run must not distort the next: the client's port range is wide, and
 * every run talks to a server port of its own, so no 4-tuple of a run can
 * meet a TIME_WAIT socket of an earlier one. (That matters: a proxy that
 * closes the client leg first leaves TIME_WAIT sockets in the gateway, and
 * while they last, early demux attaches them to forwarded packets of the same
 * 4-tuple, which ip_forward then drops — plain forwarding measured right
 * after a Sluice run on the same server port collapsed that way.)
 * Before the comparison, the server's own capacity is measured from inside
 * the remote namespace (no gateway), to show it is not the bottleneck.
 *
 *   node bench/conn-rate.js [--quick] [--reps N] [--modes …] [--seconds S]
 *                           [--connections C] [--threads T] [--workers W]
 *                           [--cpu-prof [--perf] [--prof-dir D]] [--syscalls]
 */
const { execFileSync } = require('node:child_process');
const { mkdirSync, writeFileSync } = require('node:fs');
const path = require('node:path');
const { TCP_MODES, parseFlags, withBench, interleave, execWithCpu, runMain, sleep, fmt, median } = require('./lib/harness');
const { waitListening } = require('./lib/topo');
const { machineInfo } = require('./lib/env');
const { makeRow, report } = require('./lib/report');
const { profileSluice, PROFILE_OPTIONS, PROFILE_HELP } = require('./lib/profile');
const { countSyscalls, formatSyscallTable } = require('./lib/syscalls');

const USAGE = `usage: node bench/conn-rate.js [options]
  --seconds S       length of each wrk run (default 5; 2 with --quick)
  --connections C   wrk -c (default 32)
  --threads T       wrk -t (default 2)
  --workers W       HTTP server processes in the remote (default 1)
  --server nginx|c|node  Debian's nginx (default), the C epoll server
                    (compiled with cc) or the Node one
  --pause-ms MS     pause between runs (default 3000)
  --syscalls        instead of the comparison: one wrk run per proxy mode
                    with strace -c attached to the proxy, then a table of
                    system calls per accepted connection (needs strace)
${PROFILE_HELP}`;

/** First server port; run i uses PORT + i. */
const PORT = 8000;
/** Size of `/small.bin` on the nginx server. */
const SMALL_BYTES = 16 * 1024;

function parseWrk(text) {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1]);
  const errors = se ? { connect: +se[1], read: +se[2], write: +se[3], timeout: +se[4] } : undefined;
  return { rps, requests, errors, non2xx };
}

/** One wrk run from `role` to `host`; returns the parsed result plus `cpu`, wrk's % of a core. */
async function wrk(ctx, role, host, port, { seconds, connections, threads, keepAlive = false, path: urlPath = '/' }) {
  const close = keepAlive ? [] : ['-H', 'Connection: close'];
  const args = ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, '--latency', ...close, `http://${host}:${port}${urlPath}`];
  const { result: r, cpu } = await execWithCpu(ctx, role, 'wrk', args, { timeoutMs: (seconds + 30) * 1000, allowFailure: true });
  const p = parseWrk(r.stdout);
  ctx.log.debug(`wrk ${args.join(' ')}:\n${r.stdout}`);
  if (!(p.rps > 0)) throw new Error(`wrk got no responses (exit ${r.code}):\n${r.stdout}${r.stderr}`);
  return { ...p, cpu };
}

function errorText(p) {
  const e = p.errors;
  const total = e ? e.connect + e.read + e.write + e.timeout : 0;
  return total || p.non2xx ? `${total} socket errors ${JSON.stringify(e)}, ${p.non2xx} non-2xx of ${p.requests}` : '';
}

/**
 * nginx answering `GET /` with a short 200 on `ports` consecutive ports:
 * no access log (the proxies under test log nothing per flow either),
 * `workers` processes, in the foreground so the bench owns its lifetime.
 */
function nginxConfig(workdir, host, ports, workers) {
  const listens = Array.from({ length: ports }, (_, i) => `    listen ${host}:${PORT + i} reuseport backlog=4096;`);
  return [
    'daemon off;',
    'master_process on;',
    `worker_processes ${workers};`,
    `pid ${path.join(workdir, 'nginx.pid')};`,
    'worker_rlimit_nofile 20000;',
    'events { worker_connections 10000; }',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${workdir}; proxy_temp_path ${workdir}; fastcgi_temp_path ${workdir}; uwsgi_temp_path ${workdir}; scgi_temp_path ${workdir};`,
    // Keep-alive for clients that ask (bench/scaling.js); `Connection: close` runs close after one request anyway.
    '  keepalive_timeout 60s;',
    '  keepalive_requests 1000000;',
    '  server {',
    ...listens,
    `    root ${path.join(workdir, 'www')};`,
    '    location = / { return 200 "ok"; }',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Starts the HTTP server in the remote on `ports` consecutive ports from PORT. */
async function startServer(ctx, flags, workers, ports) {
  const { topo, log } = ctx;
  const host = topo.addresses.remote.v4;
  const kind = flags.server ?? 'nginx';
  let server;
  if (kind === 'nginx') {
    const conf = path.join(ctx.workdir, 'nginx.conf');
    mkdirSync(path.join(ctx.workdir, 'www'), { recursive: true });
    // A small transfer for bench/scaling.js's many-connections row.
    writeFileSync(path.join(ctx.workdir, 'www', 'small.bin'), Buffer.alloc(SMALL_BYTES, 0x61));
    writeFileSync(conf, nginxConfig(ctx.workdir, host, ports, workers));
    server = topo.spawn('remote', 'nginx', ['-c', conf, '-p', ctx.workdir, '-e', path.join(ctx.workdir, 'nginx-error.log')]);
  } else if (kind === 'c') {
    const bin = path.join(ctx.workdir, 'http-server');
    execFileSync('cc', ['-O2', '-o', bin, path.join(__dirname, 'lib/http-server.c')], { stdio: 'inherit' });
    server = topo.spawn('remote', bin, [host, String(PORT), String(ports), String(workers)]);
  } else {
    server = topo.spawn('remote', process.execPath, [path.join(__dirname, 'lib/http-server.js'), '--host', host, '--port', String(PORT), '--ports', String(ports), '--workers', String(workers)]);
  }
  server.stderr.on('data', (d) => log.warn(`http-server: ${d}`));
  await waitListening(topo, 'remote', PORT + ports - 1);
  return { server, kind };
}

/**
 * The row's bound, measured in the same run: bench/lib/node-floor.js is a
 * Node process that does nothing per connection but Sluice's native accept
 * and connect-and-splice (no routing, flow table or logging), so its rate is
 * the most a Node proxy with one event loop gets here, and Sluice's ratio to it
 * is what Sluice's own code costs.
 */
function floorNote(samples) {
  if (!samples['node-floor']) return [];
  const floor = median(samples['node-floor']);
  const parts = [`node-floor (bench/lib/node-floor.js: native accept + connect-and-splice, nothing else) ${fmt(floor)} conn/s`];
  if (samples.haproxy) parts.push(`${(floor / median(samples.haproxy)).toFixed(2)} × HAProxy`);
  if (samples.sluice) parts.push(`Sluice ${(median(samples.sluice) / floor).toFixed(2)} × node-floor`);
  return [parts.join(', ')];
}

async function main(argv) {
  const flags = parseFlags(
    argv,
    {
      seconds: { type: 'string' },
      connections: { type: 'string' },
      threads: { type: 'string' },
      workers: { type: 'string' },
      server: { type: 'string' },
      'pause-ms': { type: 'string' },
      syscalls: { type: 'boolean', default: false },
      ...PROFILE_OPTIONS,
    },
    USAGE,
    // firewall.offload (mode sluice-offload) has a row of its own next to the proxies;
    // node-floor is the least any Node proxy does per connection (see floorNote).
    [...TCP_MODES, 'sluice-offload', 'node-floor'],
  );
  const opts = {
    seconds: Number(flags.seconds ?? (flags.quick ? 2 : 5)),
    connections: Number(flags.connections ?? 32),
    threads: Number(flags.threads ?? 2),
  };
  const workers = Number(flags.workers ?? 1);
  const pauseMs = Number(flags['pause-ms'] ?? (flags.quick ? 1000 : 3000));
  if (flags['cpu-prof']) {
    return profileSluice('connprof', flags, ['wrk'], async (ctx) => {
      await startServer(ctx, flags, workers, 1);
      return async () => {
        const p = await wrk(ctx, 'client', ctx.topo.addresses.remote.v4, PORT, opts);
        return { rps: p.rps, text: `wrk through Sluice under --cpu-prof: ${fmt(p.rps)} conn/s${errorText(p) ? ` (${errorText(p)})` : ''}` };
      };
    });
  }
  if (flags.syscalls) return syscallsPerConnection(flags, opts, workers, pauseMs);
  const rows = await withBench('conn', flags, ['wrk', ...(flags.server === undefined || flags.server === 'nginx' ? ['nginx'] : [])], async (ctx) => {
    const { topo, log } = ctx;
    const host = topo.addresses.remote.v4;
    const ports = 1 + flags.reps * flags.modes.length;
    let nextPort = PORT;
    const { server, kind } = await startServer(ctx, flags, workers, ports);
    // The server's own ceiling: wrk in the remote namespace itself, no gateway.
    const local = await wrk(ctx, 'remote', host, nextPort++, opts);
    log.info(`server alone (wrk inside the remote namespace): ${fmt(local.rps)} conn/s (wrk ${local.cpu}% of a core)`);
    await sleep(pauseMs);
    const problems = [];
    log.info(`wrk -t ${opts.threads} -c ${opts.connections} -d ${opts.seconds}s, ${flags.reps} reps × ${flags.modes.join('/')}`);
    const samples = await interleave(
      ctx,
      async (mode) => {
        const proxy = ctx.proxies[mode];
        const linesBefore = proxy?.logLines() ?? 0;
        const p = await wrk(ctx, 'client', host, nextPort++, opts);
        const e = errorText(p);
        if (e) problems.push(`${mode}: ${e}`);
        if (proxy?.logFile) {
          await sleep(500); // the last flows' lines, written asynchronously
          log.info(`${mode}: ${fmt(proxy.logLines() - linesBefore)} log lines for ${fmt(p.requests)} connections`);
        }
        return { value: p.rps, cpu: { wrk: p.cpu } };
      },
      { pauseMs, watchPids: { server: server.pid } },
    );
    const notes = [
      ...floorNote(samples),
      `wrk -t ${opts.threads} -c ${opts.connections} -d ${opts.seconds}s; ${{ nginx: 'nginx', c: 'C epoll', node: 'Node' }[kind]} server (${workers} process) alone ${fmt(local.rps)} conn/s`,
      ...problems,
    ].join('; ');
    return [makeRow('conn-rate', samples, machineInfo(), { quick: flags.quick, reps: flags.reps, notes })];
  });
  report(rows, flags.write);
  return rows;
}

/**
 * `--syscalls`: for each proxy mode, one wrk run with strace counting the
 * proxy's system calls; prints calls per connection side by side.
 */
async function syscallsPerConnection(flags, opts, workers, pauseMs) {
  const modes = flags.modes.filter((m) => m !== 'plain');
  return withBench('conn-sys', { ...flags, modes }, ['wrk', 'strace', ...(flags.server === undefined || flags.server === 'nginx' ? ['nginx'] : [])], async (ctx) => {
    const host = ctx.topo.addresses.remote.v4;
    await startServer(ctx, flags, workers, modes.length);
    const byMode = {};
    for (const [i, mode] of modes.entries()) {
      await ctx.activate(mode);
      await ctx.flushConntrack();
      const pid = ctx.proxies[mode].pid;
      const traced = await countSyscalls(pid, ctx.workdir, () => wrk(ctx, 'client', host, PORT + i, opts));
      byMode[mode] = traced;
      ctx.log.info(`${mode}: ${fmt(traced.connections)} connections accepted while traced (wrk ${fmt(traced.result.rps)} conn/s under strace)`);
      await sleep(pauseMs);
    }
    process.stdout.write(`System calls per accepted connection (strace -c -f on the proxy; wrk -t ${opts.threads} -c ${opts.connections} -d ${opts.seconds}s, Connection: close):\n${formatSyscallTable(byMode)}\n`);
    return [];
  });
}

module.exports = { main, parseWrk, wrk, startServer, errorText, PORT, SMALL_BYTES };
if (require.main === module) runMain(main);
