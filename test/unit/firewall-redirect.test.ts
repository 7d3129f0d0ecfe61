import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { isConfigError, parseConfig, renderFirewall, type SluiceConfig } from '@sluice/core';

const OUTBOUNDS = 'outbounds: [{ tag: direct, type: direct, mark: 0x2 }]';
const REDIRECT = `
inbounds:
  - { tag: r4, type: redirect, listen: 0.0.0.0, port: 15011 }
  - { tag: r6, type: redirect, listen: "::", port: 15012 }
`;

const config = (yaml: string): SluiceConfig => parseConfig(yaml, { baseDir: '/' });
const render = (yaml: string): ReturnType<typeof renderFirewall> => renderFirewall(config(yaml));

/** The rule lines of a chain, without comments and indentation. */
function chain(nft: string, name: string): string[] {
  const start = nft.indexOf(`\tchain ${name} {`);
  assert.ok(start >= 0, `chain ${name} missing:\n${nft}`);
  const body = nft.slice(start, nft.indexOf('\t}', start)).split('\n').slice(1);
  return body.map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/** The config issues as `path: message` lines; fails when the config is accepted. */
function issues(yaml: string): string[] {
  try {
    config(yaml);
  } catch (err) {
    assert.ok(isConfigError(err), String(err));
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  assert.fail('config was accepted');
}

describe('redirect inbounds: config and sluice rules', () => {
  it('a redirect inbound is TCP by default; UDP is a config error naming the key', () => {
    assert.deepEqual(config(`${REDIRECT}${OUTBOUNDS}`).inbounds.map((i) => [i.type, i.network]), [
      ['redirect', ['tcp']],
      ['redirect', ['tcp']],
    ]);
    const found = issues(`inbounds: [{ tag: r, type: redirect, listen: 0.0.0.0, port: 1, network: [tcp, udp] }]\n${OUTBOUNDS}`);
    assert.deepEqual(found, [
      'inbounds[0].network: a redirect inbound carries TCP only (nat redirect loses a datagram\'s original destination); use network: tcp, and a tproxy inbound for UDP',
    ]);
  });

  it('gateway mode: a nat prerouting chain with the bypass mark and ranges, no mangle chain, no policy routing', () => {
    const fw = render(`${REDIRECT}${OUTBOUNDS}`);
    assert.deepEqual(chain(fw.nft, 'nat_prerouting'), [
      'type nat hook prerouting priority dstnat; policy accept;',
      'meta mark & 0x2 == 0x2 return',
      'fib daddr type local return',
      'ip daddr @bypass4 return',
      'ip6 daddr @bypass6 return',
      'iif lo return',
      'meta nfproto ipv4 meta l4proto tcp redirect to :15011',
      'meta nfproto ipv6 meta l4proto tcp redirect to :15012',
    ]);
    assert.doesNotMatch(fw.nft, /tproxy ip|chain prerouting|chain output|nat_output/);
    assert.deepEqual(fw.up, []);
    assert.deepEqual(fw.down, ['nft delete table inet sluice']);
  });

  it('local mode adds nat_output; interfaces restrict nat_prerouting', () => {
    const fw = render(`${REDIRECT}${OUTBOUNDS}\nfirewall: { local: true, interfaces: [eth1], bypass_cidr: [10.0.0.0/8] }`);
    assert.deepEqual(chain(fw.nft, 'nat_output'), [
      'type nat hook output priority -100; policy accept;',
      'meta mark & 0x2 == 0x2 return',
      'fib daddr type local return',
      'ip daddr @bypass4 return',
      'meta nfproto ipv4 meta l4proto tcp redirect to :15011',
      'meta nfproto ipv6 meta l4proto tcp redirect to :15012',
    ]);
    assert.ok(chain(fw.nft, 'nat_prerouting').includes('iifname != { "eth1" } return'));
  });

  it('a tproxy inbound takes its family\'s TCP first; a loopback redirect listener in gateway mode is warned about', () => {
    const fw = render(`
inbounds:
  - { tag: t4, type: tproxy, listen: 127.0.0.1, port: 15001 }
  - { tag: r4, type: redirect, listen: 0.0.0.0, port: 15011 }
  - { tag: r6, type: redirect, listen: "::1", port: 15012 }
${OUTBOUNDS}`);
    assert.match(fw.nft, /# Not steered: inbounds\[1\] "r4" .*the IPv4 tproxy inbound already receives that family's TCP\./);
    assert.match(fw.nft, /# Warning: inbounds\[2\] "r6" listens on ::1, but nat redirect delivers forwarded connections to the arriving interface's address: listen on "::" instead\./);
    assert.deepEqual(chain(fw.nft, 'nat_prerouting').slice(-1), ['meta nfproto ipv6 meta l4proto tcp redirect to :15012']);
    assert.ok(chain(fw.nft, 'prerouting').some((l) => l.includes('tproxy ip to 127.0.0.1:15001')));
  });

  it('a transparent outbound keeps the socket-transparent rule and policy routing with redirect inbounds only', () => {
    const fw = render(`${REDIRECT}outbounds: [{ tag: c, type: direct, mark: 0x2, transparent: true }]`);
    assert.ok(chain(fw.nft, 'prerouting').includes('meta l4proto tcp tcp flags & (syn | ack) != syn socket transparent 1 meta mark set 0x1 accept'));
    assert.doesNotMatch(fw.nft, /tproxy ip/);
    assert.deepEqual(fw.up, [
      'ip rule add fwmark 0x1 lookup 100 protocol 250',
      'ip route add local default dev lo table 100 proto 250',
      'ip -6 rule add fwmark 0x1 lookup 100 protocol 250',
      'ip -6 route add local default dev lo table 100 proto 250',
    ]);
  });

  it('the rendered rulesets pass nft -c in a throwaway namespace', function () {
    assert.equal(process.getuid?.(), 0, 'needs root (CAP_NET_ADMIN) for a network namespace');
    const ns = `sfwr-${process.pid}`;
    const sh = (argv: string[], input?: string) => spawnSync(argv[0]!, argv.slice(1), { input, encoding: 'utf8', timeout: 30_000 });
    assert.equal(sh(['ip', 'netns', 'add', ns]).status, 0);
    try {
      for (const yaml of [
        `${REDIRECT}${OUTBOUNDS}`,
        `${REDIRECT}${OUTBOUNDS}\nfirewall: { local: true, interfaces: [eth1], bypass_cidr: [10.0.0.0/8, "fd00::/8"] }`,
        `${REDIRECT}outbounds: [{ tag: c, type: direct, mark: 0x2, transparent: true }]`,
      ]) {
        const r = sh(['ip', 'netns', 'exec', ns, 'nft', '-c', '-f', '-'], render(yaml).nft);
        assert.equal(r.status, 0, `nft -c refused:\n${r.stderr}\n${render(yaml).nft}`);
      }
    } finally {
      sh(['ip', 'netns', 'del', ns]);
    }
  });
});
