#!/usr/bin/env node
'use strict';
/**
 * Both ends of the idle-connection memory benchmark; prints JSON lines.
 *
 *   node idle-peer.js server --host H --port P
 *     accepts and holds every connection; prints {"event":"listening"}, then
 *     {"event":"count","open":N} whenever the number of open connections changes
 *     (at most every 200 ms).
 *   node idle-peer.js client --host H --port P --count N [--concurrency C] [--exchange]
 *     opens N connections (at most C connecting at once), holds them; prints
 *     {"event":"ready","open":N,"failed":F} once every attempt has settled,
 *     then holds until killed. With --exchange, each connection first sends a
 *     few bytes and counts as open only once the server's echo came back, so
 *     the proxy has moved data both ways on every flow (buffers touched, not
 *     only the accept path).
 * The server echoes whatever it receives.
 */
const net = require('node:net');
const { parseArgs } = require('node:util');

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { host: { type: 'string' }, port: { type: 'string' }, count: { type: 'string' }, concurrency: { type: 'string', default: '256' }, exchange: { type: 'boolean', default: false } },
});
const emit = (event, fields = {}) => process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
const held = new Set();

if (positionals[0] === 'server') {
  let reported = -1;
  const server = net.createServer((s) => {
    held.add(s);
    s.on('data', (d) => s.write(d));
    s.on('error', () => undefined);
    s.on('close', () => held.delete(s));
  });
  server.listen({ host: values.host, port: Number(values.port), backlog: 65535 }, () => emit('listening', { port: server.address().port }));
  setInterval(() => {
    if (held.size !== reported) emit('count', { open: (reported = held.size) });
  }, 200);
} else if (positionals[0] === 'client') {
  const total = Number(values.count);
  const concurrency = Number(values.concurrency);
  let started = 0;
  let settled = 0;
  let failed = 0;
  let firstError;
  const next = () => {
    if (started >= total) return;
    started++;
    const s = net.connect({ host: values.host, port: Number(values.port) });
    let done = false;
    const settle = (ok, err) => {
      if (done) return;
      done = true;
      if (ok) held.add(s);
      else {
        failed++;
        firstError ??= err?.code ?? err?.message;
      }
      if (++settled === total) emit('ready', { open: held.size, failed, firstError });
      next();
    };
    const PING = Buffer.from('sluice-bench-ping\n');
    if (values.exchange) {
      s.once('connect', () => s.write(PING));
      let got = 0;
      s.on('data', (d) => {
        got += d.length;
        if (got >= PING.length) settle(true);
      });
    } else {
      s.once('connect', () => settle(true));
    }
    s.on('error', (err) => settle(false, err));
    s.on('close', () => held.delete(s));
  };
  for (let i = 0; i < Math.min(concurrency, total); i++) next();
  setInterval(() => undefined, 1 << 30);
} else {
  process.stderr.write('usage: idle-peer.js server|client --host H --port P [--count N]\n');
  process.exit(2);
}
