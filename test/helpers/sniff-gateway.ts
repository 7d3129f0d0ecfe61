/*
 * A Sluice embedded for the sniffing e2e tests, run in the gateway namespace:
 * the contract config's IPv4 inbound (so `sluice rules` for that config
 * delivers to it) with `sniff: true`, and a routing hook that sends the names
 * listed on the command line to `deny`. Each `flow` event is printed as a
 * JSON line (`msg: "routed"`), next to Sluice's own log.
 *
 * Usage: node sniff-gateway.js <sniff_timeout_ms> <blocked,names> [override_destination]
 */
import { createSluice, parseConfig } from '@sluice/core';

const timeoutMs = Number(process.argv[2] ?? 300);
const blocked = new Set((process.argv[3] ?? '').split(',').filter(Boolean));
const config = parseConfig(
  JSON.stringify({
    log: { level: 'info' },
    inbounds: [{ tag: 'in4', type: 'tproxy', listen: '127.0.0.1', port: 15001, sniff: true, sniff_timeout_ms: timeoutMs, override_destination: process.argv[4] === 'true' }],
    outbounds: [
      { tag: 'direct', type: 'direct', mark: 2 },
      { tag: 'deny', type: 'block' },
    ],
    route: { rules: [], final: 'direct' },
  }),
  { format: 'json', baseDir: __dirname },
);

const sluice = createSluice(config, { routingHook: (flow) => (flow.dst.host !== undefined && blocked.has(flow.dst.host) ? 'deny' : undefined) });
sluice.on('flow', (f) => process.stdout.write(`${JSON.stringify({ msg: 'routed', ...f })}\n`));
sluice.start().then(
  () => process.once('SIGTERM', () => void sluice.stop().then(() => process.exit(0))),
  (err: Error) => {
    console.error(err.message);
    process.exit(1);
  },
);
