import * as assert from 'node:assert/strict';
import { formatEndpoint, TOPOLOGY_ADDRESSES as A } from '@sluice/testbed';
import { dig } from '../helpers/clients';
import { useE2E } from '../helpers/env';
import { startDnsmasq, type Dnsmasq } from '../helpers/servers';
import { contractConfig, describeFlows, writeFile } from '../helpers/sluice';
import { waitFor } from '../helpers/wait';

const SRC_PORT = 40053;

describe('e2e: DNS over UDP through Sluice', function () {
  // A short UDP idle timeout, so sessions close (and are logged) within the test.
  const env = useE2E({ tag: 'udp', udpIdleMs: 1000 });
  let dnsmasq: Dnsmasq;

  before(async function () {
    dnsmasq = await startDnsmasq(env.topo, [A.remote.v4, A.remote.v6]);
  });

  const cases = [
    { family: 'IPv4', server: A.remote.v4, client: A.client.v4, gw: A.gwWan.v4, type: 'A', answer: '192.0.2.7', inbound: 'in4' },
    { family: 'IPv6', server: A.remote.v6, client: A.client.v6, gw: A.gwWan.v6, type: 'AAAA', answer: '2001:db8::7', inbound: 'in6' },
  ] as const;

  /**
   * Two dig queries from one source port (one session: the second query
   * goes through the native session relay, never through JavaScript); each
   * answer must come from the original destination, and the session gets one
   * access-log line counting both.
   */
  async function twoQueriesOneSession(c: (typeof cases)[number], srcPort: number, tag: string) {
    const names = [1, 2].map((i) => `${c.family.toLowerCase()}-${tag}-${i}.example.test`);
    for (const name of names) {
      const r = await dig(env.topo, c.server, name, c.type, `${c.client}#${srcPort}`);
      // dig discards a reply from any other address than the one it asked
      // ("reply from unexpected source"), so an answer proves the source was right.
      assert.equal(r.code, 0, `dig exit ${r.code}: ${r.stdout}${r.stderr}`);
      assert.deepEqual(r.answers, [c.answer]);
      const logLine = await waitFor(`dnsmasq query log for ${name}`, () =>
        dnsmasq.queries().find((l) => l.includes(`query[${c.type}] ${name} from`)),
      );
      assert.match(logLine, new RegExp(`from ${c.gw.replace(/\./g, '\\.')}$`), `dnsmasq saw: ${logLine}`);
    }
    const dst = formatEndpoint(c.server, 53);
    const src = formatEndpoint(c.client, srcPort);
    const flow = await env.sluice!.waitForFlow(
      (f) => f.network === 'udp' && f.dst === dst && f.src === src,
      5000,
      `udp flow ${src} → ${dst} (after the 1 s UDP idle timeout)`,
    );
    assert.equal(env.sluice!.flows().filter((f) => f.network === 'udp' && f.src === src).length, 1, 'one session, one line');
    // Both queries are counted (each is at least a 12-byte header, the name and 6 bytes of type, class and
    // label lengths), and both answers, which are longer than the queries.
    const minQuery = 12 + names[0].length + 6;
    assert.ok(flow.up >= 2 * minQuery && flow.down > flow.up, `bytes up=${flow.up} down=${flow.down}`);
    return flow;
  }

  for (const c of cases) {
    it(`${c.family}: dig gets the answers, dnsmasq saw the gateway, and the replies came from the original destination`, async function () {
      const flow = await twoQueriesOneSession(c, SRC_PORT, 'native');
      assert.equal(flow.inbound, c.inbound, describeFlows([flow]));
      assert.equal(flow.rule, 'final');
      assert.equal(flow.outbound, 'direct');
    });
  }

  it('with relay.native_udp: false, the same through the JavaScript datagram path', async function () {
    await env.stopSluice();
    await env.startSluice(writeFile(env.tmp, 'js-udp.yaml', `${contractConfig({ udpIdleMs: 1000 })}relay: { native_udp: false }\n`));
    for (const c of cases) await twoQueriesOneSession(c, SRC_PORT + 1, 'js');
  });
});
