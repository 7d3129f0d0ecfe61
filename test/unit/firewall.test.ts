import { strict as assert } from 'node:assert';
import { parseConfig } from '@sluice/core';
import { renderFirewall } from '@sluice/core';

const OUTBOUNDS = 'outbounds: [{ tag: direct, type: direct, mark: 0x2 }]';
const DUAL = `
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001 }
  - { tag: in6, type: tproxy, listen: "::1", port: 15002 }
`;

function render(yaml: string): ReturnType<typeof renderFirewall> {
  return renderFirewall(parseConfig(yaml, { baseDir: '/' }));
}

/** The rule lines of a chain, without comments and indentation. */
function chain(nft: string, name: string): string[] {
  const start = nft.indexOf(`\tchain ${name} {`);
  assert.ok(start >= 0, `chain ${name} missing:\n${nft}`);
  const body = nft.slice(start, nft.indexOf('\t}', start)).split('\n').slice(1);
  return body.map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

describe('firewall: renderFirewall', () => {
  it('renders the gateway ruleset for IPv4 and IPv6 inbounds', () => {
    const fw = render(`${DUAL}${OUTBOUNDS}`);
    const lines = fw.nft.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
    // Declare, delete, declare again: one nft -f transaction that replaces only this table.
    assert.deepEqual(lines.slice(0, 3), ['table inet sluice {}', 'delete table inet sluice', 'table inet sluice {']);
    assert.match(fw.nft, /\tset bypass4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\tauto-merge\n\t\telements = { 0\.0\.0\.0\/8, 127\.0\.0\.0\/8, 169\.254\.0\.0\/16, 224\.0\.0\.0\/4, 240\.0\.0\.0\/4 }\n\t}/);
    assert.match(fw.nft, /\tset bypass6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t\tauto-merge\n\t\telements = { ::1\/128, fe80::\/10, ff00::\/8 }\n\t}/);
    assert.deepEqual(chain(fw.nft, 'prerouting'), [
      'type filter hook prerouting priority mangle; policy accept;',
      'meta mark & 0x2 == 0x2 return',
      'meta l4proto tcp tcp flags & (syn | ack) != syn socket transparent 1 meta mark set 0x1 accept',
      'ip saddr @bypass4 return',
      'ip6 saddr @bypass6 return',
      'fib daddr type local return',
      'ip daddr @bypass4 return',
      'ip6 daddr @bypass6 return',
      'iif lo return',
      'meta nfproto ipv4 meta l4proto { tcp, udp } tproxy ip to 127.0.0.1:15001 meta mark set 0x1 accept',
      'meta nfproto ipv6 meta l4proto { tcp, udp } tproxy ip6 to [::1]:15002 meta mark set 0x1 accept',
    ]);
    assert.doesNotMatch(fw.nft, /chain output/);
    // A gateway keeps conntrack out of its forwarding path: nothing in the ruleset may need it.
    assert.doesNotMatch(fw.nft, /\bct\b/);
    assert.deepEqual(fw.up, [
      'ip rule add fwmark 0x1 lookup 100 protocol 250',
      'ip route add local default dev lo table 100 proto 250',
      'ip -6 rule add fwmark 0x1 lookup 100 protocol 250',
      'ip -6 route add local default dev lo table 100 proto 250',
    ]);
    assert.deepEqual(fw.down, [
      'nft delete table inet sluice',
      'ip rule del fwmark 0x1 lookup 100 protocol 250',
      'ip route del local default dev lo table 100 proto 250',
      'ip -6 rule del fwmark 0x1 lookup 100 protocol 250',
      'ip -6 route del local default dev lo table 100 proto 250',
    ]);
  });

  it('steers only the networks an inbound serves, and only families that have one', () => {
    const tcp = render(`inbounds: [{ tag: in, type: tproxy, listen: 127.0.0.1, port: 15001, network: tcp }]\n${OUTBOUNDS}`);
    const pre = chain(tcp.nft, 'prerouting');
    assert.ok(pre.includes('meta nfproto ipv4 meta l4proto tcp tproxy ip to 127.0.0.1:15001 meta mark set 0x1 accept'));
    assert.ok(!pre.some((l) => l.includes('tproxy ip6')));
    assert.deepEqual(tcp.up, ['ip rule add fwmark 0x1 lookup 100 protocol 250', 'ip route add local default dev lo table 100 proto 250']);
    assert.equal(tcp.down.length, 3);

    const udp6 = render(`inbounds: [{ tag: in, type: tproxy, listen: "::1", port: 15002, network: [udp] }]\n${OUTBOUNDS}`);
    const pre6 = chain(udp6.nft, 'prerouting');
    assert.ok(pre6.includes('meta nfproto ipv6 meta l4proto udp tproxy ip6 to [::1]:15002 meta mark set 0x1 accept'));
    assert.ok(!pre6.some((l) => l.includes('socket transparent')), 'no TCP fast path without a TCP inbound');
    assert.deepEqual(udp6.up, ['ip -6 rule add fwmark 0x1 lookup 100 protocol 250', 'ip -6 route add local default dev lo table 100 proto 250']);
  });

  it('uses a bare port for wildcard listeners', () => {
    const fw = render(`
inbounds:
  - { tag: a, type: tproxy, listen: 0.0.0.0, port: 15001 }
  - { tag: b, type: tproxy, listen: "::", port: 15002 }
${OUTBOUNDS}`);
    const pre = chain(fw.nft, 'prerouting');
    assert.ok(pre.includes('meta nfproto ipv4 meta l4proto { tcp, udp } tproxy ip to :15001 meta mark set 0x1 accept'));
    assert.ok(pre.includes('meta nfproto ipv6 meta l4proto { tcp, udp } tproxy ip6 to :15002 meta mark set 0x1 accept'));
  });

  it('steers with the first inbound per family and says which were skipped', () => {
    const fw = render(`
inbounds:
  - { tag: a, type: tproxy, listen: 127.0.0.1, port: 15001 }
  - { tag: b, type: tproxy, listen: 127.0.0.2, port: 15003 }
  - { tag: c, type: tproxy, listen: "::1", port: 15002 }
${OUTBOUNDS}`);
    assert.match(fw.nft, /^# Not steered: inbounds\[1\] "b" \(127\.0\.0\.2 port 15003\); only the first IPv4 inbound receives TPROXY traffic\.$/m);
    assert.equal(fw.nft.match(/tproxy ip to/g)?.length, 1);
    assert.equal(fw.nft.match(/tproxy ip6 to/g)?.length, 1);
  });

  it('restricts capture to the configured interfaces', () => {
    const fw = render(`${DUAL}${OUTBOUNDS}\nfirewall: { interfaces: [eth1, "wg*"] }`);
    const pre = chain(fw.nft, 'prerouting');
    assert.ok(pre.includes('iifname != { "eth1", "wg*" } return'));
    assert.ok(!pre.includes('iif lo return'), 'the interface list already excludes lo');
  });

  it('adds an output chain and lets marked lo traffic in, in local mode', () => {
    const fw = render(`${DUAL}${OUTBOUNDS}\nfirewall: { local: true }`);
    const pre = chain(fw.nft, 'prerouting');
    assert.ok(pre.includes('iif lo meta mark != 0x1 return'));
    assert.ok(pre.includes('ct direction reply return'), 'local mode tells replies of local servers apart with conntrack');
    assert.ok(!pre.includes('iif lo return'));
    assert.deepEqual(chain(fw.nft, 'output'), [
      'type route hook output priority mangle; policy accept;',
      'meta mark & 0x2 == 0x2 return',
      'ct direction reply return',
      'fib daddr type local return',
      'ip daddr @bypass4 return',
      'ip6 daddr @bypass6 return',
      'meta nfproto ipv4 meta l4proto { tcp, udp } meta mark set 0x1',
      'meta nfproto ipv6 meta l4proto { tcp, udp } meta mark set 0x1',
    ]);
    const withIfaces = render(`${DUAL}${OUTBOUNDS}\nfirewall: { local: true, interfaces: [eth1] }`);
    assert.ok(chain(withIfaces.nft, 'prerouting').includes('iifname != { "eth1", "lo" } return'));
  });

  it('uses the configured marks, table and bypass ranges', () => {
    const fw = render(`${DUAL}
outbounds: [{ tag: direct, type: direct, mark: 0xff00 }]
firewall: { fwmark: 0x10, table: 200, bypass_cidr: [10.0.0.0/8, 10.1.0.0/16] }`);
    const pre = chain(fw.nft, 'prerouting');
    assert.equal(pre[1], 'meta mark & 0xff00 == 0xff00 return');
    assert.ok(pre.includes('meta nfproto ipv4 meta l4proto { tcp, udp } tproxy ip to 127.0.0.1:15001 meta mark set 0x10 accept'));
    assert.match(fw.nft, /elements = { 10\.0\.0\.0\/8, 10\.1\.0\.0\/16 }/);
    assert.doesNotMatch(fw.nft, /bypass6/, 'no IPv6 set without IPv6 ranges');
    assert.equal(fw.up[0], 'ip rule add fwmark 0x10 lookup 200 protocol 250');
    assert.equal(fw.up[1], 'ip route add local default dev lo table 200 proto 250');

    // Host bits are cleared (nft refuses them), in both families.
    const hostBits = render(`${DUAL}${OUTBOUNDS}\nfirewall: { bypass_cidr: [10.1.2.3/8, "2001:db8::1/32", 192.0.2.7] }`);
    assert.match(hostBits.nft, /elements = { 10\.0\.0\.0\/8, 192\.0\.2\.7\/32 }/);
    assert.match(hostBits.nft, /elements = { 2001:db8::\/32 }/);

    const none = render(`${DUAL}${OUTBOUNDS}\nfirewall: { bypass_cidr: [] }`);
    assert.doesNotMatch(none.nft, /set bypass|@bypass/);
  });
});
