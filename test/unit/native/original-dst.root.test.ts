import * as assert from 'node:assert/strict';
import { addUplink, Netns } from './helpers/netns';

describe('native: originalDestination (nat REDIRECT, network namespace)', () => {
  let ns: Netns;
  let plain: Netns;
  before(async () => {
    ns = await Netns.create('odst');
    await addUplink(ns);
    await ns.nft(`
table ip sluice_test {
  chain output {
    type nat hook output priority -100; policy accept;
    tcp dport 8080 redirect to :9090
  }
}
table ip6 sluice_test {
  chain output {
    type nat hook output priority -100; policy accept;
    tcp dport 8080 redirect to :9090
  }
}
`);
    plain = await Netns.create('odst-plain');
  });
  after(async () => {
    await ns?.destroy();
    await plain?.destroy();
  });

  it('reports the IPv4 destination a connection had before REDIRECT (SO_ORIGINAL_DST)', async () => {
    const r = await ns.scenario<any>('originalDst', { serverHost: '0.0.0.0', serverPort: 9090, target: { address: '198.18.0.9', port: 8080 } });
    assert.deepEqual(r.ok, { address: '198.18.0.9', port: 8080 });
    assert.deepEqual(r.local, { address: '127.0.0.1', port: 9090 });
  });

  it('reports the IPv6 destination (IP6T_SO_ORIGINAL_DST)', async () => {
    const r = await ns.scenario<any>('originalDst', { serverHost: '::', serverPort: 9090, target: { address: '2001:db8:ffff::9', port: 8080 } });
    assert.deepEqual(r.ok, { address: '2001:db8:ffff::9', port: 8080 });
    assert.deepEqual(r.local, { address: '::1', port: 9090 });
  });

  it('reports the IPv4 destination of a connection accepted by a dual-stack IPv6 server', async () => {
    const r = await ns.scenario<any>('originalDst', { serverHost: '::', serverPort: 9090, target: { address: '198.18.0.9', port: 8080 } });
    assert.deepEqual(r.ok, { address: '198.18.0.9', port: 8080 });
    assert.deepEqual(r.local, { address: '127.0.0.1', port: 9090 });
  });

  it('throws ENOENT with an explanation when the connection was not redirected', async () => {
    const r = await plain.scenario<any>('originalDst', { serverHost: '127.0.0.1', serverPort: 9090, target: { address: '127.0.0.1', port: 9090 } });
    assert.equal(r.error.code, 'ENOENT');
    assert.equal(r.error.errno, 2);
    assert.equal(r.error.syscall, 'getsockopt(SO_ORIGINAL_DST)');
    assert.match(r.error.message, /has no original destination: the connection was not redirected by a nat rule/);
  });
});
