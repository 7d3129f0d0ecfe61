import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { native, isNativeError } from '@sluice/native';
import { addTproxy, addUplink, Netns } from './helpers/netns';
import { fdOf } from './helpers/scenarios';
import { onceWithin } from '../../helpers/wait';

/** Accepts one connection on a server adopted from `fd`, echoing; returns what each side saw. */
async function acceptOne(fd: number, connectTo: { host: string; port: number; family?: number }) {
  const server = net.createServer((s) => s.pipe(s));
  server.listen({ fd });
  await onceWithin(server, 'listening');
  const accepted = onceWithin<[net.Socket]>(server, 'connection');
  const client = net.connect({ host: connectTo.host, port: connectTo.port, family: connectTo.family });
  await onceWithin(client, 'connect');
  const [socket] = await accepted;
  const local = native().localAddress(fdOf(socket));
  const serverSocketLocal = socket.localAddress;
  client.end('hello');
  let echoed = '';
  client.on('data', (c: Buffer) => (echoed += c.toString()));
  await onceWithin(client, 'end');
  await new Promise((resolve) => server.close(resolve));
  return { echoed, local, serverSocketLocal };
}

describe('native: openTransparentListener', () => {
  afterEach(() => global.gc?.());

  it('returns a listening fd that net.Server adopts and accepts on (IPv4)', async () => {
    const fd = native().openTransparentListener({ address: '127.0.0.1', port: 0 });
    const { port, address } = native().localAddress(fd);
    assert.equal(address, '127.0.0.1');
    const seen = await acceptOne(fd, { host: '127.0.0.1', port });
    assert.equal(seen.echoed, 'hello');
    assert.deepEqual(seen.local, { address: '127.0.0.1', port });
  });

  it('accepts on an IPv6 listener', async () => {
    const fd = native().openTransparentListener({ address: '::1', port: 0 });
    const { port } = native().localAddress(fd);
    const seen = await acceptOne(fd, { host: '::1', port });
    assert.equal(seen.echoed, 'hello');
    assert.deepEqual(seen.local, { address: '::1', port });
  });

  it('with v6Only false, accepts IPv4 too and reports the local address un-mapped', async () => {
    const fd = native().openTransparentListener({ address: '::', port: 0, v6Only: false });
    const { port } = native().localAddress(fd);
    const seen = await acceptOne(fd, { host: '127.0.0.1', port, family: 4 });
    assert.equal(seen.echoed, 'hello');
    assert.equal(seen.serverSocketLocal, '::ffff:127.0.0.1'); // what Node says
    assert.deepEqual(seen.local, { address: '127.0.0.1', port }); // what we say
  });

  it('defaults v6Only to true, so an IPv4 listener can take the same port', () => {
    const fd6 = native().openTransparentListener({ address: '::', port: 0 });
    const { port } = native().localAddress(fd6);
    const fd4 = native().openTransparentListener({ address: '0.0.0.0', port });
    native().closeFd(fd4);
    native().closeFd(fd6);
  });

  it('binds a non-local address (that is what IP_TRANSPARENT is for)', () => {
    // Plain sockets cannot: the kernel says EADDRNOTAVAIL.
    const plain = (() => {
      try {
        native().closeFd(native().createSocket({ type: 'tcp', family: 4, localAddress: '198.18.0.77' }));
      } catch (err) {
        return err;
      }
    })();
    assert.ok(isNativeError(plain) && plain.code === 'EADDRNOTAVAIL', `plain bind should fail: ${String(plain)}`);
    const fd = native().openTransparentListener({ address: '198.18.0.77', port: 0 });
    assert.equal(native().localAddress(fd).address, '198.18.0.77');
    native().closeFd(fd);
    const fd6 = native().openTransparentListener({ address: '2001:db8::77', port: 0 });
    assert.equal(native().localAddress(fd6).address, '2001:db8::77');
    native().closeFd(fd6);
    // A link-local address keeps its zone both ways.
    const scoped = native().openTransparentListener({ address: 'fe80::77%lo', port: 0 });
    assert.equal(native().localAddress(scoped).address, 'fe80::77%lo');
    native().closeFd(scoped);
  });

  it('throws EADDRINUSE with code, errno, syscall and a sentence naming the address', () => {
    const fd = native().openTransparentListener({ address: '127.0.0.1', port: 0 });
    const { port } = native().localAddress(fd);
    try {
      assert.throws(
        () => native().openTransparentListener({ address: '127.0.0.1', port }),
        (err: unknown) => {
          assert.ok(isNativeError(err));
          assert.equal(err.code, 'EADDRINUSE');
          assert.equal(err.errno, 98);
          assert.equal(err.syscall, 'bind');
          assert.ok(
            err.message.includes(`127.0.0.1:${port} is already in use by another socket (another Sluice, or another service)`),
            err.message,
          );
          return true;
        },
      );
    } finally {
      native().closeFd(fd);
    }
  });

  it('with reusePort, lets two listeners share a port', () => {
    const first = native().openTransparentListener({ address: '127.0.0.1', port: 0, reusePort: true });
    const { port } = native().localAddress(first);
    const second = native().openTransparentListener({ address: '127.0.0.1', port, reusePort: true, backlog: 16 });
    assert.equal(native().localAddress(second).port, port);
    native().closeFd(second);
    native().closeFd(first);
  });

  describe('under real TPROXY (network namespace)', () => {
    let ns: Netns;
    before(async () => {
      ns = await Netns.create('lst');
      await addUplink(ns);
      await addTproxy(ns, [{ proto: 'tcp', dport: 80, port: 15001 }]);
    });
    after(async () => ns?.destroy());

    it('accepts IPv4 connections to a foreign address, whose localAddress is the original destination', async () => {
      const r = await ns.scenario<any>('tproxyTcp', {
        listener: { address: '0.0.0.0', port: 15001 },
        target: { address: '198.18.0.9', port: 80 },
      });
      assert.equal(r.echoed, 'echo me');
      assert.deepEqual(r.seen, {
        localAddress: '198.18.0.9',
        localPort: 80,
        remoteAddress: '10.200.0.1',
        native: { address: '198.18.0.9', port: 80 },
      });
    });

    it('accepts IPv6 connections to a foreign address', async () => {
      const r = await ns.scenario<any>('tproxyTcp', {
        listener: { address: '::', port: 15001 },
        target: { address: '2001:db8:ffff::9', port: 80 },
      });
      assert.equal(r.echoed, 'echo me');
      assert.deepEqual(r.seen, {
        localAddress: '2001:db8:ffff::9',
        localPort: 80,
        remoteAddress: '2001:db8:1::1',
        native: { address: '2001:db8:ffff::9', port: 80 },
      });
    });

    it('on a dual-stack listener, accepts IPv4 connections to a foreign address (IP_TRANSPARENT on the IPv6 socket)', async () => {
      const r = await ns.scenario<any>('tproxyTcp', {
        listener: { address: '::', port: 15001, v6Only: false },
        target: { address: '198.18.0.9', port: 80 },
      });
      assert.equal(r.echoed, 'echo me');
      assert.deepEqual(r.seen.native, { address: '198.18.0.9', port: 80 });
      assert.equal(r.seen.remoteAddress, '::ffff:10.200.0.1');
    });
  });
});
