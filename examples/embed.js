'use strict';
// Embedding Sluice as a library (see docs/embedding.md): the config is built
// in code, an async routing hook is asked before the rules, the `flow` and
// `flow:closed` events replace log parsing, and SIGHUP reloads with a new rule
// set while established flows carry on.
// Run as root (IP_TRANSPARENT needs CAP_NET_ADMIN): node examples/embed.js
const { createSluice, parseConfig } = require('@sluice/core');

const port = Number(process.env.SLUICE_EMBED_PORT ?? 15001);
const configFor = (blocked) =>
  parseConfig(
    JSON.stringify({
      log: { level: 'info' },
      inbounds: [{ tag: 'in4', type: 'tproxy', listen: '127.0.0.1', port }],
      outbounds: [{ tag: 'direct', type: 'direct', mark: 2 }, { tag: 'deny', type: 'block' }],
      route: { rules: blocked.length ? [{ dst_port: blocked, outbound: 'deny' }] : [], final: 'direct' },
    }),
    { format: 'json', baseDir: __dirname },
  );

// An async hook, as one that asks a database would be; undefined lets the rules decide.
const denyTelnet = async (flow) => (flow.dst.port === 23 ? 'deny' : undefined);

const sluice = createSluice(configFor([]), { routingHook: denyTelnet, hookTimeoutMs: 500 });
const print = (msg, fields) => process.stdout.write(`${JSON.stringify({ msg, ...fields })}\n`);
sluice.on('flow', (f) => print('example: routed', f));
sluice.on('flow:closed', (f) => print('example: closed', f));

// SIGHUP: block port 80 from now on (or lift the block again).
let blocking = false;
process.on('SIGHUP', () => {
  blocking = !blocking;
  sluice.reload(configFor(blocking ? [80] : [])).then(
    (summary) => print('example: reloaded', { blocking, rules: summary.rules }),
    (err) => print('example: reload failed', { error: err.message }),
  );
});

sluice.start().then(
  () => {
    const stop = () => sluice.stop().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  },
  (err) => {
    console.error(err.message);
    process.exit(1);
  },
);
