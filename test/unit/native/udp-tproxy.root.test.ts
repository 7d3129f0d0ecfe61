import * as assert from 'node:assert/strict';
import { addTproxy, addUplink, Netns } from './helpers/netns';

interface TproxyUdpResult {
  clientPort: number;
  batches: Array<Array<{ data: string; srcAddress: string; srcPort: number; dstAddress: string; dstPort: number }>>;
  replies: Array<{ data: string; address: string; port: number }>;
  stats: { received: number; sent: number; replySockets: number };
}

describe('native: UdpTransparentSocket under real TPROXY (network namespace)', () => {
  let ns: Netns;
  before(async () => {
    ns = await Netns.create('udp');
    await addUplink(ns);
    await addTproxy(ns, [{ proto: 'udp', dport: 5353, port: 15353 }]);
    // Counts replies that carry mark 2 (the `mark` option).
    await ns.nft(`
table inet sluice_count {
  counter reply_marked {}
  chain output {
    type filter hook output priority 0; policy accept;
    meta mark 0x2 udp sport 5353 counter name reply_marked
    udp dport 9 drop
  }
}
`);
  });
  after(async () => ns?.destroy());

  function assertRoundTrip(r: TproxyUdpResult, client: string, target: { address: string; port: number }): void {
    // Both datagrams reached the listener, one batch each, with the client as
    // source and the foreign target as original destination.
    assert.deepEqual(
      r.batches,
      ['one', 'two'].map((data) => [{ data, srcAddress: client, srcPort: r.clientPort, dstAddress: target.address, dstPort: target.port }]),
    );
    // Replies came from exactly the original destination, address and port.
    assert.deepEqual(r.replies, [
      { data: 'reply to one', address: target.address, port: target.port },
      { data: 'reply to two', address: target.address, port: target.port },
    ]);
    // One reply socket served both replies and did not take the second datagram.
    assert.equal(r.stats.replySockets, 1);
    assert.equal(r.stats.received, 2);
    assert.equal(r.stats.sent, 2);
  }

  it('IPv4: receives with the original destination and replies from it', async () => {
    const target = { address: '198.18.0.9', port: 5353 };
    const r = await ns.scenario<TproxyUdpResult>('tproxyUdp', { socket: { address: '0.0.0.0', port: 15353 }, clientType: 'udp4', target });
    assertRoundTrip(r, '10.200.0.1', target);
  });

  it('IPv6: receives with the original destination and replies from it', async () => {
    const target = { address: '2001:db8:ffff::9', port: 5353 };
    const r = await ns.scenario<TproxyUdpResult>('tproxyUdp', { socket: { address: '::', port: 15353 }, clientType: 'udp6', target });
    assertRoundTrip(r, '2001:db8:1::1', target);
  });

  it('dual-stack IPv6 socket: IPv4 datagrams arrive with both addresses un-mapped', async () => {
    const target = { address: '198.18.0.9', port: 5353 };
    const r = await ns.scenario<TproxyUdpResult>('tproxyUdp', {
      socket: { address: '::', port: 15353, v6Only: false },
      clientType: 'udp4',
      target,
    });
    assertRoundTrip(r, '10.200.0.1', target);
  });

  for (const [name, socket, clientType, target] of [
    ['IPv4', { address: '0.0.0.0', port: 15353 }, 'udp4', { address: '198.18.0.9', port: 5353 }],
    ['IPv6', { address: '::', port: 15353 }, 'udp6', { address: '2001:db8:ffff::9', port: 5353 }],
    ['dual-stack, IPv4 client', { address: '::', port: 15353, v6Only: false }, 'udp4', { address: '198.18.0.9', port: 5353 }],
  ] as const) {
    it(`${name}: an attached session is relayed natively, replies from the original destination`, async () => {
      const r = await ns.scenario<{
        batches: string[][];
        replies: Array<{ data: string; address: string; port: number }>;
        stats: { forwarded: number; replied: number; sessions: number };
        ended: Array<{ id: number; up: number; down: number; reason: string }>;
      }>('tproxyUdpRelay', { socket, clientType, target });
      assert.deepEqual(r.batches, [['one']], 'only the first datagram reaches JavaScript');
      assert.deepEqual(r.replies, ['one', 'two', 'three'].map((w) => ({ data: `re:${w}`, ...target })));
      assert.equal(r.stats.sessions, 1);
      assert.equal(r.stats.forwarded, 3);
      assert.equal(r.stats.replied, 3);
      assert.deepEqual(r.ended, [{ id: 1, up: 'twothree'.length, down: 're:onere:twore:three'.length, reason: 'shutdown' }]);
    });
  }

  it('applies `mark` to reply sockets (counted by nft), and only when asked', async () => {
    const target = { address: '198.18.0.9', port: 5353 };
    const before = await ns.counter('inet', 'sluice_count', 'reply_marked');
    assertRoundTrip(await ns.scenario<TproxyUdpResult>('tproxyUdp', { socket: { address: '0.0.0.0', port: 15353 }, clientType: 'udp4', target }), '10.200.0.1', target);
    assert.equal(await ns.counter('inet', 'sluice_count', 'reply_marked'), before, 'unmarked replies must not count');
    assertRoundTrip(
      await ns.scenario<TproxyUdpResult>('tproxyUdp', { socket: { address: '0.0.0.0', port: 15353, mark: 2 }, clientType: 'udp4', target }),
      '10.200.0.1',
      target,
    );
    assert.equal(await ns.counter('inet', 'sluice_count', 'reply_marked'), before + 2);
  });

  it('send() throws a NativeError when the firewall refuses the reply', async () => {
    const err = await ns.scenario<any>('sendRefused', { from: '198.18.0.9', to: '10.200.0.1', toPort: 9 });
    assert.equal(err.code, 'EPERM');
    assert.equal(err.syscall, 'sendto');
    assert.match(err.message, /sending to 10\.200\.0\.1:9 was refused by the firewall/);
  });

  describe('send() when the kernel buffer is full', () => {
    let slow: Netns;
    before(async () => {
      slow = await Netns.create('udp-slow');
      await addUplink(slow);
      // 8 kbit/s with a deep queue: sent datagrams stay charged to the socket.
      await slow.sh(`
        ip neigh add 10.200.0.99 lladdr 02:00:00:00:00:99 dev v0
        tc qdisc add dev v0 root tbf rate 8kbit burst 1600 limit 10000000
      `);
    });
    after(async () => slow?.destroy());

    it('returns false and counts sendDropped instead of throwing (EAGAIN)', async () => {
      const r = await slow.scenario<any>('sendBackpressure', { from: '10.200.0.1', to: '10.200.0.99', count: 500 });
      assert.ok(r.accepted > 0, 'the first replies fit');
      assert.ok(r.refused > 0, 'later ones are refused');
      assert.equal(r.accepted + r.refused, 500);
      assert.equal(r.stats.sent, r.accepted);
      assert.equal(r.stats.sendDropped, r.refused);
    });
  });
});
