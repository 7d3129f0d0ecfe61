import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { native, isNativeError } from '@sluice/native';
import { Netns } from './helpers/netns';
import { onceWithin } from '../../helpers/wait';

async function echoServer(host: string): Promise<{ server: net.Server; port: number; peers: Array<{ address?: string; port?: number }> }> {
  const peers: Array<{ address?: string; port?: number }> = [];
  const server = net.createServer((s) => {
    peers.push({ address: s.remoteAddress, port: s.remotePort });
    s.pipe(s);
  });
  server.listen(0, host);
  await onceWithin(server, 'listening');
  return { server, port: (server.address() as net.AddressInfo).port, peers };
}

/** Wraps a createSocket fd and connects in the same tick, as core does. */
async function exchange(fd: number, port: number, host: string): Promise<{ remotePort?: number; echoed: string }> {
  const socket = new net.Socket({ fd });
  socket.connect(port, host);
  await onceWithin(socket, 'connect');
  const remotePort = socket.remotePort;
  socket.end('round trip');
  let echoed = '';
  socket.on('data', (c: Buffer) => (echoed += c.toString()));
  await onceWithin(socket, 'close');
  return { remotePort, echoed };
}

describe('native: createSocket', () => {
  afterEach(() => global.gc?.());

  for (const { family, host } of [
    { family: 4 as const, host: '127.0.0.1' },
    { family: 6 as const, host: '::1' },
  ]) {
    it(`TCP/IPv${family}: new net.Socket({ fd }).connect() in the same tick connects and carries data`, async () => {
      const { server, port } = await echoServer(host);
      try {
        const { remotePort, echoed } = await exchange(native().createSocket({ type: 'tcp', family }), port, host);
        assert.equal(echoed, 'round trip');
        assert.equal(remotePort, port);
      } finally {
        server.close();
      }
    });
  }

  it('TCP: a refused connect surfaces as an ECONNREFUSED error event', async () => {
    const probe = net.createServer().listen(0, '127.0.0.1');
    await onceWithin(probe, 'listening');
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));

    const socket = new net.Socket({ fd: native().createSocket({ type: 'tcp', family: 4 }) });
    socket.connect(port, '127.0.0.1');
    const [err] = await onceWithin<[NodeJS.ErrnoException]>(socket, 'error');
    assert.equal(err.code, 'ECONNREFUSED');
    assert.equal(err.syscall, 'connect');
  });

  it('TCP: binds localAddress/localPort (with reuseAddr) before connecting', async () => {
    const { server, port, peers } = await echoServer('127.0.0.1');
    const portProbe = net.createServer().listen(0, '127.0.0.2');
    await onceWithin(portProbe, 'listening');
    const localPort = (portProbe.address() as net.AddressInfo).port;
    await new Promise((resolve) => portProbe.close(resolve));
    try {
      const fd = native().createSocket({ type: 'tcp', family: 4, localAddress: '127.0.0.2', localPort, reuseAddr: true });
      assert.deepEqual(native().localAddress(fd), { address: '127.0.0.2', port: localPort });
      const { echoed } = await exchange(fd, port, '127.0.0.1');
      assert.equal(echoed, 'round trip');
      assert.deepEqual(peers, [{ address: '127.0.0.2', port: localPort }]);
    } finally {
      server.close();
    }
  });

  it('TCP: device pins the socket to an interface (SO_BINDTODEVICE lo)', async () => {
    const { server, port } = await echoServer('127.0.0.1');
    try {
      const { echoed } = await exchange(native().createSocket({ type: 'tcp', family: 4, device: 'lo' }), port, '127.0.0.1');
      assert.equal(echoed, 'round trip');
    } finally {
      server.close();
    }
  });

  it('transparent lets localAddress be foreign; without it bind fails with EADDRNOTAVAIL', () => {
    const fd = native().createSocket({ type: 'tcp', family: 4, transparent: true, localAddress: '198.18.0.5' });
    const local = native().localAddress(fd);
    assert.equal(local.address, '198.18.0.5');
    assert.ok(local.port > 0);
    native().closeFd(fd);
    const fd6 = native().createSocket({ type: 'udp', family: 6, transparent: true, localAddress: '2001:db8::5' });
    assert.equal(native().localAddress(fd6).address, '2001:db8::5');
    native().closeFd(fd6);
    assert.throws(
      () => native().createSocket({ type: 'tcp', family: 4, localAddress: '198.18.0.5' }),
      (err: unknown) => isNativeError(err) && err.code === 'EADDRNOTAVAIL' && err.syscall === 'bind' && err.message.includes('198.18.0.5:0'),
    );
  });

  for (const { family, host, type } of [
    { family: 4 as const, host: '127.0.0.1', type: 'udp4' as const },
    { family: 6 as const, host: '::1', type: 'udp6' as const },
  ]) {
    it(`UDP/IPv${family}: dgram.Socket.bind({ fd }) adopts the socket, which sends and receives`, async () => {
      const fd = native().createSocket({ type: 'udp', family, localAddress: host });
      const port = native().localAddress(fd).port;
      const adopted = dgram.createSocket(type);
      // bind({ fd }) emits 'listening' synchronously, inside bind(): listen first.
      const listening = onceWithin(adopted, 'listening');
      adopted.bind({ fd });
      await listening;
      assert.deepEqual({ address: adopted.address().address, port: adopted.address().port }, { address: host, port });

      const peer = dgram.createSocket(type).bind(0, host);
      await onceWithin(peer, 'listening');
      try {
        peer.send('to adopted', port, host);
        const [m1, r1] = await onceWithin<[Buffer, dgram.RemoteInfo]>(adopted, 'message');
        assert.equal(m1.toString(), 'to adopted');
        adopted.send('from adopted', r1.port, r1.address);
        const [m2, r2] = await onceWithin<[Buffer, dgram.RemoteInfo]>(peer, 'message');
        assert.equal(m2.toString(), 'from adopted');
        assert.equal(r2.port, port);
      } finally {
        adopted.close();
        peer.close();
      }
    });
  }

  describe('mark (network namespace with nft counters)', () => {
    let ns: Netns;
    before(async () => {
      ns = await Netns.create('mark');
      await ns.nft(`
table inet sluice_test {
  counter tcp_marked {}
  counter udp_marked {}
  chain output {
    type filter hook output priority 0; policy accept;
    meta mark 0x2 meta l4proto tcp counter name tcp_marked
    meta mark 0x2 meta l4proto udp counter name udp_marked
  }
}
`);
    });
    after(async () => ns?.destroy());

    it('applies SO_MARK: only the marked TCP and UDP sockets are counted by `meta mark 0x2`', async () => {
      const r = await ns.scenario<any>('markedSockets');
      assert.equal(r.unmarked.echoed, 'ping');
      assert.equal(r.unmarked.udp, 'datagram');
      assert.equal(r.unmarked.tcpPackets, 0, 'unmarked TCP must not match');
      assert.equal(r.unmarked.udpPackets, 0, 'unmarked UDP must not match');
      assert.equal(r.marked.echoed, 'ping');
      assert.equal(r.marked.udp, 'datagram');
      // SYN, ACK, data, FIN at least.
      assert.ok(r.marked.tcpPackets >= 4, `marked TCP packets: ${r.marked.tcpPackets}`);
      assert.equal(r.marked.udpPackets, 1);
      // Read from the parent as well, as a cross-check of the helper.
      assert.equal(await ns.counter('inet', 'sluice_test', 'udp_marked'), 1);
    });
  });
});
