import * as assert from 'node:assert/strict';
import { formatEndpoint, TOPOLOGY_ADDRESSES as A } from '@sluice/core/dist/netns';
import { dig } from '../helpers/clients';
import { useE2E } from '../helpers/env';
import { startDnsmasq, type Dnsmasq } from '../helpers/servers';
import { describeFlows } from '../helpers/sluice';
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

  for (const c of cases) {
    it(`${c.family}: dig gets the answer, dnsmasq saw the gateway, and the reply came from the original destination`, async function () {
      const name = `${c.family.toLowerCase()}.example.test`;
      const r = await dig(env.topo, c.server, name, c.type, `${c.client}#${SRC_PORT}`);
      // dig discards a reply from any other address than the one it asked
      // ("reply from unexpected source"), so an answer proves the source was right.
      assert.equal(r.code, 0, `dig exit ${r.code}: ${r.stdout}${r.stderr}`);
      assert.deepEqual(r.answers, [c.answer]);
      const logLine = await waitFor(`dnsmasq query log for ${name}`, () =>
        dnsmasq.queries().find((l) => l.includes(`query[${c.type}] ${name} from`)),
      );
      assert.match(logLine, new RegExp(`from ${c.gw.replace(/\./g, '\\.')}$`), `dnsmasq saw: ${logLine}`);

      const dst = formatEndpoint(c.server, 53);
      const flow = await env.sluice!.waitForFlow(
        (f) => f.network === 'udp' && f.dst === dst,
        5000,
        `udp flow to ${dst} (after the 1 s UDP idle timeout)`,
      );
      assert.equal(flow.src, formatEndpoint(c.client, SRC_PORT), describeFlows([flow]));
      assert.equal(flow.inbound, c.inbound);
      assert.equal(flow.rule, 'final');
      assert.equal(flow.outbound, 'direct');
      assert.ok(flow.up > 0 && flow.down > flow.up, `bytes up=${flow.up} down=${flow.down}`);
    });
  }
});
