#!/usr/bin/env node
'use strict';
/**
 * Minimal HTTP/1.1 responder for the connection-rate benchmark: answers each
 * request with a fixed 2-byte body and `Connection: close`, then closes. Raw
 * `net`, not `http`, so that the server is cheaper than whatever is between
 * it and the client. `--workers N` forks N processes sharing the listening
 * socket (the kernel balances accepts; no round-robin through a master).
 * The fallback of the C server (http-server.c) when no C compiler is present;
 * like it, listens on `--ports` consecutive ports from `--port`.
 *
 *   node bench/lib/http-server.js --host H --port P [--ports N] [--workers N]
 * Prints `{"event":"listening",…}` once every worker listens.
 */
const cluster = require('node:cluster');
const net = require('node:net');
const { parseArgs } = require('node:util');

const { values } = parseArgs({ options: { host: { type: 'string' }, port: { type: 'string' }, workers: { type: 'string', default: '1' }, ports: { type: 'string', default: '1' } } });
const workers = Number(values.workers);
const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');

function serve() {
  const ports = Number(values.ports);
  let listening = 0;
  for (let i = 0; i < ports; i++) listen(Number(values.port) + i, () => {
    if (++listening < ports) return;
    if (cluster.isWorker) process.send('listening');
    else process.stdout.write(`${JSON.stringify({ event: 'listening', port: Number(values.port), ports })}\n`);
  });
}

function listen(port, onListening) {
  const server = net.createServer({ noDelay: true }, (socket) => {
    let seen = '';
    socket.on('error', () => undefined);
    socket.on('data', (d) => {
      seen += d.toString('latin1');
      if (seen.includes('\r\n\r\n')) {
        socket.end(RESPONSE);
        seen = '';
      }
    });
  });
  server.listen({ host: values.host, port, backlog: 65535 }, onListening);
}

if (workers > 1 && cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let ready = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('message', (m) => {
      if (m === 'listening' && ++ready === workers) process.stdout.write(`${JSON.stringify({ event: 'listening', port: Number(values.port), workers })}\n`);
    });
  }
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers)) w.kill('SIGTERM');
    process.exit(0);
  });
} else {
  serve();
}
