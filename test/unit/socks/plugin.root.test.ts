import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import 'reflect-metadata';
import { container as rootContainer } from 'tsyringe';
import { createOutbounds, definitionsByType, planOutbounds, registerPlugins, type Outbound } from '@sluice/core';
import { flowCtx, nextPacket, roundTrip, silent, startDante, tcpEcho, udpEcho, type ServerProcess } from './helpers';

describe('socks plugin loaded by core, chained on the real direct plugin', function () {
  this.timeout(20_000);
  let hop1: ServerProcess | undefined;
  let hop2: ServerProcess | undefined;
  let echo: Awaited<ReturnType<typeof tcpEcho>> | undefined;
  let uecho: Awaited<ReturnType<typeof udpEcho>> | undefined;
  const variants = new Map<string, Map<string, Outbound>>();

  before(async () => {
    echo = await tcpEcho();
    uecho = await udpEcho();
    [hop1, hop2] = await Promise.all([startDante('127.0.0.2'), startDante('127.0.0.3', '127.0.0.2/32')]);
    const container = rootContainer.createChildContainer();
    registerPlugins(container, [], process.cwd());
    const definitions = definitionsByType(container);
    assert.ok(definitions.has('socks') && definitions.has('direct'));
    // SO_MARK needs CAP_NET_ADMIN: the suite runs as root, like the e2e tests.
    for (const mark of [undefined, 2]) {
      const out = { tag: 'out', type: 'direct', ...(mark !== undefined && { mark }) };
      const raws: Record<string, unknown>[] = [
        out,
        { tag: 'hop1', type: 'socks', server: '127.0.0.2', port: hop1.port, via: 'out' },
        { tag: 'hop2', type: 'socks', server: '127.0.0.3', port: hop2.port, via: 'hop1' },
      ];
      const entries = raws.map((raw, i) => ({ tag: raw.tag as string, type: raw.type as string, raw, path: `outbounds[${i}]` }));
      const made = createOutbounds(planOutbounds(entries, definitions), container, silent);
      variants.set(mark === undefined ? 'direct' : `direct with mark ${mark}`, made);
    }
  });

  after(async () => {
    await Promise.all([hop1?.stop(), hop2?.stop()]);
    await echo?.close();
    uecho?.close();
    for (const made of variants.values()) for (const o of made.values()) await o.close();
  });

  for (const name of ['direct', 'direct with mark 2']) {
    it(`TCP: ${name} → hop1 → hop2 → echo`, async () => {
      const s = await variants.get(name)!.get('hop2')!.dialTcp({ address: '127.0.0.1', port: echo!.port }, flowCtx());
      const data = randomBytes(4096);
      assert.deepEqual(await roundTrip(s, data), data);
      assert.equal(echo!.peers.at(-1), '127.0.0.3');
      s.destroy();
    });

    it(`UDP: ${name} → hop1 → hop2 → echo`, async () => {
      const hop2 = variants.get(name)!.get('hop2')!;
      assert.deepEqual(hop2.networks, ['tcp', 'udp']);
      const channel = await hop2.dialUdp!(flowCtx(undefined, 'udp'));
      const got = nextPacket(channel);
      channel.send(Buffer.from('through two hops'), { address: '127.0.0.1', port: uecho!.port });
      const { data, from } = await got;
      assert.equal(data.toString(), 'through two hops');
      assert.deepEqual(from, { address: '127.0.0.1', port: uecho!.port });
      assert.equal(uecho!.peers.at(-1)!.address, '127.0.0.3');
      channel.close();
    });
  }
});
