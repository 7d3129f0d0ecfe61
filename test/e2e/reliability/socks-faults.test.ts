import * as assert from 'node:assert/strict';
import { formatEndpoint, TOPOLOGY_ADDRESSES as A, type ChildWatch } from '@sluice/testbed';
import { curl, describeCurl } from '../../helpers/clients';
import { useE2E } from '../../helpers/env';
import {
  assertFootprintReturns,
  assertStillServing,
  footprint,
  GC_NODE_ARGS,
  reliabilityConfig,
  spawnNodeClient,
} from '../../helpers/reliability';
import { startHttpServer, type ProbeServer } from '../../helpers/servers';
import { describeFlows, writeFile } from '../../helpers/sluice';

/**
 * A scripted SOCKS5 server: one listener per misbehaviour (argv[2…]), each
 * answering every client the same wrong way. Prints one `listening` line
 * mapping each behaviour to its port, and `request` when it read a request.
 */
const HOSTILE_SOCKS = `
const net = require('net');
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const ok = Buffer.from([5, 0]);
const BEHAVIOURS = {
  // Wrong version in the method selection.
  'bad-version': (s) => s.write(Buffer.from([4, 0])),
  // A reply cut short, then FIN.
  'truncated': (s) => afterRequest(s, () => s.end(Buffer.from([5, 0, 0, 1, 198, 19]))),
  // A name of 255 bytes announced, 3 sent, then nothing more: only the handshake timeout ends it.
  'absurd-length': (s) => afterRequest(s, () => s.write(Buffer.from([5, 0, 0, 3, 255, 97, 98, 99]))),
  // An address type that does not exist.
  'bad-atyp': (s) => afterRequest(s, () => s.write(Buffer.from([5, 0, 0, 9, 0, 0, 0, 0, 0, 0]))),
  // 1 MiB of garbage as the reply.
  'garbage': (s) => afterRequest(s, () => s.write(Buffer.alloc(1 << 20, 0xff))),
  // Success, then FIN at once: the client must get a prompt, clean close.
  'reply-then-close': (s) => afterRequest(s, () => s.end(Buffer.from([5, 0, 0, 1, 198, 19, 2, 2, 0, 80]))),
};
function afterRequest(s, then) {
  s.write(ok);
  let got = Buffer.alloc(0);
  s.on('data', function onData(d) {
    got = Buffer.concat([got, d]);
    if (got.length < 3 + 4 + 2) return; // the greeting already went; a request of an IPv4 address is 10 bytes
    s.off('data', onData);
    emit({ event: 'request', bytes: got.length });
    then();
  });
}
const ports = {};
let left = process.argv.length - 2;
for (const name of process.argv.slice(2)) {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => BEHAVIOURS[name](s));
  });
  server.listen(0, process.argv[1], () => { ports[name] = server.address().port; if (--left === 0) emit({ event: 'listening', ports }); });
}
`;

/** What each misbehaviour must end as: the access line's error. */
const CASES = [
  { name: 'bad-version', rulePort: 9101, error: /^socks: malformed reply/ },
  { name: 'truncated', rulePort: 9102, error: /^socks: upstream closed during handshake/ },
  { name: 'absurd-length', rulePort: 9103, error: /^socks: handshake timeout/ },
  { name: 'bad-atyp', rulePort: 9104, error: /^socks: malformed reply/ },
  { name: 'garbage', rulePort: 9105, error: /^socks: malformed reply/ },
  { name: 'reply-then-close', rulePort: 9106, error: undefined },
] as const;

/** Below the reliability config's `connect_ms` (1000), which covers the whole dial, so the SOCKS handshake timeout is what ends the stalled reply. */
const HANDSHAKE_TIMEOUT_MS = 500;
/** curl's exit codes for a connection Sluice closed or reset: 52 empty reply, 56 receive failure. */
const CLOSED_BY_PROXY = [52, 56];

function sluiceConfig(ports: Record<string, number>): string {
  const outbounds = CASES.map(
    (c) => `  - { tag: ${c.name}, type: socks, server: ${A.remote.v4}, port: ${ports[c.name]}, handshake_timeout_ms: ${HANDSHAKE_TIMEOUT_MS} }`,
  );
  const rules = CASES.map((c) => `    - { network: [tcp], dst_port: ${c.rulePort}, outbound: ${c.name} }`);
  return reliabilityConfig()
    .replace('outbounds:\n', `outbounds:\n${outbounds.join('\n')}\n`)
    .replace('route:\n', `route:\n  rules:\n${rules.join('\n')}\n`);
}

describe('e2e reliability: a SOCKS server with hostile or truncated replies', function () {
  const env = useE2E({ tag: 'rsf', sluice: false });
  let http: ProbeServer;
  let hostile: ChildWatch;

  before(async function () {
    http = await startHttpServer(env.topo);
    hostile = spawnNodeClient(env.topo, 'remote', HOSTILE_SOCKS, [A.remote.v4, ...CASES.map((c) => c.name)]);
    const listening = await hostile.waitFor((l) => l.event === 'listening', 10_000, 'the hostile SOCKS server listening');
    await env.startSluice(writeFile(env.tmp, 'socks-faults.yaml', sluiceConfig(listening.ports as Record<string, number>)), GC_NODE_ARGS);
    await assertStillServing(env, http);
  });
  after(async function () {
    await hostile?.stop('SIGKILL');
  });

  for (const c of CASES) {
    for (const family of [4, 6] as const) {
      // IPv6 only where it adds something: the request carries an IPv6 destination (22 bytes, not 10).
      if (family === 6 && c.name !== 'truncated' && c.name !== 'reply-then-close') continue;
      it(`${c.name} (IPv${family} destination): the client is closed, the access line says ${c.error ? String(c.error) : 'nothing went wrong'}, nothing leaks`, async function () {
        const sluice = env.sluice!;
        const before = footprint(sluice.child.pid!);
        const remote = family === 4 ? A.remote.v4 : A.remote.v6;
        const dst = formatEndpoint(remote, c.rulePort);
        const seen = sluice.flows().length;
        const r = await curl(env.topo, `http://${dst}/`, 10);
        assert.ok(CLOSED_BY_PROXY.includes(r.exitCode ?? -1), `expected Sluice to close the connection: ${describeCurl(r)}`);
        const flow = await sluice.waitForFlow((f) => f.dst === dst && sluice.flows().indexOf(f) >= seen, HANDSHAKE_TIMEOUT_MS + 5000, `the flow to ${dst}`);
        console.log(`      [outcome] SOCKS ${c.name} (IPv${family}): curl exit ${r.exitCode}; access line error: ${flow.error}; up ${flow.up} down ${flow.down}`);
        assert.equal(flow.outbound, c.name, describeFlows([flow]));
        if (c.error) assert.match(flow.error ?? '', c.error, describeFlows([flow]));
        else assert.equal(flow.error, undefined, describeFlows([flow]));
        assert.equal(flow.down, 0, describeFlows([flow]));
        await assertStillServing(env, http);
        await assertFootprintReturns(sluice, before, `SOCKS ${c.name} (IPv${family})`);
      });
    }
  }
});
