'use strict';
// Embedding Sluice as a library: build the config in code, add a routing hook
// that sends one destination port to the `deny` outbound, and subscribe to
// finished flows through diagnostics_channel instead of parsing logs.
// Run as root (IP_TRANSPARENT needs CAP_NET_ADMIN): node examples/embed.js
const diagnostics = require('node:diagnostics_channel');
const { createSluice, parseConfig } = require('@sluice/core');

const config = parseConfig(
  JSON.stringify({
    log: { level: 'info' },
    inbounds: [{ tag: 'in4', type: 'tproxy', listen: '127.0.0.1', port: 15001 }],
    outbounds: [{ tag: 'direct', type: 'direct', mark: 2 }, { tag: 'deny', type: 'block' }],
    route: { rules: [], final: 'direct' },
  }),
  { format: 'json', baseDir: __dirname },
);

diagnostics.subscribe('sluice:flow:closed', ({ flow, outcome }) => {
  console.error(`${flow.network} ${flow.src.address}:${flow.src.port} -> ${flow.dst.address}:${flow.dst.port} via ${outcome.outbound}`);
});

const sluice = createSluice(config, {
  routingHook: (flow) => (flow.dst.port === 23 ? 'deny' : undefined),
});
sluice.start().then(
  () => process.once('SIGINT', () => sluice.stop().then(() => process.exit(0))),
  (err) => {
    console.error(err.message);
    process.exit(1);
  },
);
