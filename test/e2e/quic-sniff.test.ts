import * as assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { ChildWatch, SluiceProcess, TOPOLOGY_ADDRESSES as A, type Topology } from '@sluice/testbed';
import { useE2E } from '../helpers/env';
import { writeFile } from '../helpers/sluice';

const QUIC_PORT = 4433;
const BODY = 'hello over quic\n';

/**
 * An embedder in the gateway: the contract's inbounds with `sniff: true`, and
 * a routing hook that sends the name `blocked.test` to `deny` and prints what
 * it was shown. Written at run time so it loads this checkout's @sluice/core.
 */
function embedderScript(dir: string): string {
  return `'use strict';
const { createSluice, parseConfig } = require(${JSON.stringify(require.resolve('@sluice/core'))});
const print = (msg, fields) => process.stdout.write(JSON.stringify({ msg, ...fields }) + '\\n');
const inbound = (tag, listen, port) => ({ tag, type: 'tproxy', listen, port, network: ['tcp', 'udp'], sniff: true, sniff_timeout_ms: 300 });
const config = parseConfig(JSON.stringify({
  log: { level: 'info' },
  inbounds: [inbound('in4', '127.0.0.1', 15001), inbound('in6', '::1', 15002)],
  outbounds: [{ tag: 'direct', type: 'direct', mark: 2 }, { tag: 'deny', type: 'block' }],
  route: { rules: [], final: 'direct' },
  timeouts: { udp_idle_ms: 1000, drain_ms: 1000 },
}), { format: 'json', baseDir: ${JSON.stringify(dir)} });
const hook = (flow) => {
  print('test: hook', { network: flow.network, host: flow.dst.host, sniffed: flow.sniffed });
  return flow.dst.host === 'blocked.test' ? 'deny' : undefined;
};
const sluice = createSluice(config, { routingHook: hook });
sluice.on('flow', (f) => print('test: routed', f));
sluice.start().then(
  () => process.once('SIGTERM', () => sluice.stop().then(() => process.exit(0))),
  (err) => { console.error(err.message); process.exit(1); },
);
`;
}

/** gtlsclient (ngtcp2) fetching /index.html from the QUIC server under `name`; the body, or undefined when nothing came. */
async function quicFetch(topo: Topology, dir: string, name: string): Promise<string | undefined> {
  const out = path.join(dir, `dl-${name}`);
  mkdirSync(out, { recursive: true });
  // gtlsclient exits 0 even when the handshake times out: the downloaded file is the proof. It sends the
  // host argument as SNI only when it is a name (this version ignores --sni), hence the namespace's hosts file.
  await topo.exec(
    'client',
    'gtlsclient',
    ['-q', `--download=${out}`, '--exit-on-all-streams-close', '--handshake-timeout=3s', '--timeout=5s', name, String(QUIC_PORT), `https://${name}/index.html`],
    { allowFailure: true, timeoutMs: 20_000 },
  );
  const file = path.join(out, 'index.html');
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

describe('e2e: QUIC sniffing (ngtcp2 client and server)', function () {
  const env = useE2E({ tag: 'quic', sluice: false });
  let server: ChildWatch | undefined;
  let embedder: SluiceProcess | undefined;
  let serverChild: ChildProcess | undefined;
  let netnsEtc: string | undefined;

  before(async function () {
    this.timeout(60_000);
    const docroot = path.join(env.tmp, 'www');
    mkdirSync(docroot);
    writeFile(docroot, 'index.html', BODY);
    // `ip netns exec` mounts /etc/netns/<namespace>/hosts over /etc/hosts: the names resolve in the client namespace only.
    netnsEtc = path.join('/etc/netns', env.topo.names.client);
    mkdirSync(netnsEtc, { recursive: true });
    writeFile(netnsEtc, 'hosts', `${A.remote.v4} allowed.test blocked.test\n`);
    const key = path.join(env.tmp, 'key.pem');
    const cert = path.join(env.tmp, 'cert.pem');
    await env.topo.exec('remote', 'openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=allowed.test']);
    serverChild = env.topo.spawn('remote', 'gtlsserver', ['-q', '-d', docroot, A.remote.v4, String(QUIC_PORT), key, cert]);
    server = new ChildWatch(serverChild, 'gtlsserver in remote');
    embedder = new SluiceProcess(env.topo.spawn('gw', process.execPath, [writeFile(env.tmp, 'embed-sniff.js', embedderScript(env.tmp))]), 'QUIC-sniffing embedder in gw');
    await embedder.waitForStarted();
  });

  after(async function () {
    await embedder?.stop('SIGTERM');
    serverChild?.kill('SIGKILL');
    if (netnsEtc) rmSync(netnsEtc, { recursive: true, force: true });
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') process.stderr.write(`${embedder?.describe(40)}\n${server?.describe(10)}\n`);
  });

  it('routes a QUIC connection by the SNI of its Initial packets: the name reaches the hook, the flow event and the access-log line', async function () {
    const body = await quicFetch(env.topo, env.tmp, 'allowed.test');
    assert.equal(body, BODY);
    const hook = await embedder!.waitFor((l) => l.msg === 'test: hook' && l.network === 'udp' && l.host === 'allowed.test', 5000, 'the hook shown the name');
    assert.equal(hook.sniffed, 'quic');
    const routed = await embedder!.waitFor((l) => l.msg === 'test: routed' && l.host === 'allowed.test', 5000, 'the flow event');
    assert.equal(routed.outbound, 'direct');
    assert.equal(routed.dst, `${A.remote.v4}:${QUIC_PORT}`, 'the destination address is kept (override_destination: false)');
    const line = await embedder!.waitForFlow((f) => f.network === 'udp' && f.host === 'allowed.test', 5000, 'the QUIC session, after the UDP idle timeout');
    assert.equal(line.outbound, 'direct');
    assert.ok(line.down > 0 && line.up > 0, JSON.stringify(line));
  });

  it('blocks a QUIC connection whose SNI the hook denies, with the same server address', async function () {
    const body = await quicFetch(env.topo, env.tmp, 'blocked.test');
    assert.equal(body, undefined, 'the blocked name was served');
    const routed = await embedder!.waitFor((l) => l.msg === 'test: routed' && l.host === 'blocked.test', 5000, 'the flow event');
    assert.equal(routed.outbound, 'deny');
    assert.equal(routed.rule, 'hook');
  });
});
