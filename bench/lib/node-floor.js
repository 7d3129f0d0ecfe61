'use strict';
/**
 * The least a Node.js transparent proxy can do per TCP connection, built from
 * Sluice's own native pieces: `TcpAcceptor` (a batch of accepted fds per
 * wakeup) and `SpliceRelay` with `connect` (connect to the original
 * destination and splice, in one native step), and nothing else: no config,
 * no routing, no flow table, no access log, no metrics. Bench mode
 * `node-floor` (TCP only) runs it, so `node bench/conn-rate.js --modes
 * sluice,node-floor,haproxy` shows how much of Sluice's cost per connection is
 * Sluice and how much is one Node event loop and the kernel.
 *
 *   node bench/lib/node-floor.js <port> <mark>
 *
 * Listens on 127.0.0.1:<port> with IP_TRANSPARENT and marks its upstream
 * sockets with <mark> (the gateway's ruleset lets marked packets through).
 */
const path = require('node:path');
const { native, forEachAccepted } = require(path.join(__dirname, '../../packages/native'));

function main() {
  const port = Number(process.argv[2]);
  const mark = Number(process.argv[3]);
  if (!Number.isInteger(port) || !Number.isInteger(mark)) {
    process.stderr.write('usage: node bench/lib/node-floor.js <port> <mark>\n');
    process.exit(2);
  }
  const binding = native();
  binding.raiseFileLimit();
  const listenFd = binding.openTransparentListener({ address: '127.0.0.1', port });
  let failed = 0;
  const done = (result) => {
    if (result.error && ++failed <= 5) process.stderr.write(`node-floor: ${result.error}\n`);
  };
  const relay = (fd, _srcAddress, _srcPort, dstAddress, dstPort) => {
    try {
      new binding.SpliceRelay(fd, null, { adopt: true, connect: { address: dstAddress, port: dstPort, mark } }, done);
    } catch (err) {
      binding.resetFd(fd);
      process.stderr.write(`node-floor: ${err.message}\n`);
    }
  };
  new binding.TcpAcceptor(listenFd, (batch) => forEachAccepted(batch, relay));
  process.on('SIGTERM', () => process.exit(0));
}

main();
