#!/usr/bin/env node
'use strict';
/**
 * Relay micro-benchmark on loopback, no namespaces, no root: one TCP stream
 * of N GiB from a source process through a relay in this process to a sink
 * process, relayed by
 *   direct  no relay: source connects to the sink (the ceiling here),
 *   pipe    relayTcp (Node streams, socket.pipe() both ways),
 *   splice  spliceRelay (the native in-kernel relay).
 * Prints Gbit/s, the relay process's CPU time (process.cpuUsage, user+system)
 * per mode, and the splice/pipe ratios. Needs the build (native addon and
 * `tsc -b`). Bounded: each run stops after --max-seconds.
 *
 *   node bench/relay-loopback.js [--gib 4] [--reps 1] [--modes direct,pipe,splice]
 *                                [--pipe-size BYTES] [--max-seconds 60]
 */
const { fork } = require('node:child_process');
const net = require('node:net');
const { parseArgs } = require('node:util');

const CHUNK = 1024 * 1024;

// ---- child processes: source and sink ---------------------------------------------------------

function runSource() {
  const data = Buffer.alloc(CHUNK);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
  process.on('message', ({ port, bytes }) => {
    const socket = net.connect({ port, host: '127.0.0.1' }, () => {
      let left = bytes;
      const pump = () => {
        while (left > 0) {
          const n = Math.min(left, CHUNK);
          left -= n;
          if (!socket.write(n === CHUNK ? data : data.subarray(0, n))) return void socket.once('drain', pump);
        }
        socket.end();
      };
      pump();
    });
    socket.on('error', (err) => process.send({ error: `source: ${err.message}` }));
    socket.on('close', () => process.send({ closed: true, cpu: process.cpuUsage() }));
    socket.resume();
  });
}

function runSink() {
  const server = net.createServer((socket) => {
    let received = 0;
    socket.on('data', (chunk) => void (received += chunk.length));
    socket.on('error', () => {});
    socket.on('end', () => process.send({ received, at: process.hrtime.bigint().toString(), cpu: process.cpuUsage() }));
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
}

// ---- the relay (this process) -----------------------------------------------------------------

function once(child, key) {
  return new Promise((resolve, reject) => {
    const onMessage = (m) => {
      if (m.error) reject(new Error(m.error));
      else if (key in m) {
        child.off('message', onMessage);
        resolve(m);
      }
    };
    child.on('message', onMessage);
  });
}

/** A relay listener for `mode`; returns its port and a close function. */
async function startRelay(mode, sinkPort, pipeSize, relays) {
  const { relayTcp, spliceRelay, spliceAvailable } = require('@sluice/core');
  const { native } = require('@sluice/native');
  if (mode === 'splice' && !spliceAvailable(native())) throw new Error('splice is not available here');
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    const upstream = net.connect({ port: sinkPort, host: '127.0.0.1', allowHalfOpen: true }, () => {
      upstream.pause();
      const relay =
        mode === 'splice' ? spliceRelay(client, upstream, { idleMs: 0, pipeSize }, native()) : relayTcp(client, upstream, { idleMs: 0 });
      if (!relay) throw new Error('spliceRelay declined the sockets');
      relays.push(relay.result);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, close: () => server.close() };
}

async function runOnce(mode, bytes, opts) {
  const source = fork(__filename, ['--role', 'source'], { stdio: 'inherit' });
  const sink = fork(__filename, ['--role', 'sink'], { stdio: 'inherit' });
  const kill = () => {
    source.kill();
    sink.kill();
  };
  try {
    const { port: sinkPort } = await once(sink, 'port');
    const relays = [];
    const relay = mode === 'direct' ? undefined : await startRelay(mode, sinkPort, opts.pipeSize, relays);
    const done = once(sink, 'received');
    const sourceClosed = once(source, 'closed');
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    source.send({ port: relay ? relay.port : sinkPort, bytes });
    let timer;
    const limit = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${mode}: not done after ${opts.maxSeconds} s`)), opts.maxSeconds * 1000);
    });
    const end = await Promise.race([done, limit]);
    clearTimeout(timer);
    const sourceEnd = await sourceClosed;
    const seconds = Number(BigInt(end.at) - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const results = await Promise.all(relays);
    relay?.close();
    if (end.received !== bytes) throw new Error(`${mode}: sink received ${end.received} of ${bytes} bytes`);
    for (const r of results) if (r.error || r.up !== bytes) throw new Error(`${mode}: relay result ${JSON.stringify(r)}`);
    const cpuOf = (u) => (u.user + u.system) / 1e6;
    return { gbps: (bytes * 8) / seconds / 1e9, seconds, cpuSeconds: cpuOf(cpu), peerCpuSeconds: cpuOf(end.cpu) + cpuOf(sourceEnd.cpu) };
  } finally {
    kill();
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      role: { type: 'string' },
      gib: { type: 'string', default: '4' },
      reps: { type: 'string', default: '1' },
      modes: { type: 'string', default: 'direct,pipe,splice' },
      'pipe-size': { type: 'string' },
      'max-seconds': { type: 'string', default: '60' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.role === 'source') return runSource();
  if (values.role === 'sink') return runSink();
  if (values.help) {
    process.stdout.write('usage: node bench/relay-loopback.js [--gib 4] [--reps 1] [--modes direct,pipe,splice] [--pipe-size BYTES] [--max-seconds 60]\n');
    return;
  }
  const bytes = Math.round(Number(values.gib) * 1024 ** 3);
  const opts = { pipeSize: values['pipe-size'] ? Number(values['pipe-size']) : undefined, maxSeconds: Number(values['max-seconds']) };
  const modes = values.modes.split(',');
  const best = {};
  process.stdout.write(`relay-loopback: ${values.gib} GiB per run, ${values.reps} rep(s), splice pipe size ${opts.pipeSize ?? require('@sluice/core').DEFAULT_SPLICE_PIPE_SIZE} B, node ${process.version}\n`);
  for (let rep = 0; rep < Number(values.reps); rep++) {
    for (const mode of modes) {
      const r = await runOnce(mode, bytes, opts);
      const perGib = r.cpuSeconds / (bytes / 1024 ** 3);
      process.stdout.write(
        `${mode.padEnd(7)} ${r.gbps.toFixed(2).padStart(6)} Gbit/s  ${r.seconds.toFixed(2).padStart(6)} s  relay CPU ${r.cpuSeconds.toFixed(2)} s (${perGib.toFixed(3)} s/GiB, ${((r.cpuSeconds / r.seconds) * 100).toFixed(0)}% of a core; source+sink ${r.peerCpuSeconds.toFixed(2)} s)\n`,
      );
      if (!best[mode] || r.gbps > best[mode].gbps) best[mode] = { ...r, perGib };
    }
  }
  if (best.pipe && best.splice) {
    process.stdout.write(
      `splice/pipe: throughput ×${(best.splice.gbps / best.pipe.gbps).toFixed(2)}, CPU per GiB ×${(best.splice.perGib / best.pipe.perGib).toFixed(2)}\n`,
    );
  }
  if (best.direct && best.splice) process.stdout.write(`splice/direct: throughput ×${(best.splice.gbps / best.direct.gbps).toFixed(2)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
