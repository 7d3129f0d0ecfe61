import { strict as assert } from 'node:assert';
import { parseConfig, planOffload, renderFirewall } from '@sluice/core';

const BASE = `
inbounds:
  - { tag: in4, type: tproxy, listen: 0.0.0.0, port: 15001 }
  - { tag: in6, type: tproxy, listen: "::", port: 15002 }
outbounds:
  - { tag: direct, type: direct, mark: 0x2 }
  - { tag: bound, type: direct, interface: wan1 }
  - { tag: proxy, type: socks, server: 127.0.0.1, port: 1080 }
  - { tag: pick, type: selector, outbounds: [direct, proxy] }
`;

function config(rules: string, extra = 'firewall: { offload: true }'): ReturnType<typeof parseConfig> {
  return parseConfig(`${BASE}route:\n  final: proxy\n  rules:\n${rules}\n${extra}\n`, { baseDir: '/' });
}

const plan = (rules: string, extra?: string): ReturnType<typeof planOffload> => planOffload(config(rules, extra));

/** The rule lines of a chain, without comments and indentation. */
function chain(nft: string, name: string): string[] {
  const start = nft.indexOf(`\tchain ${name} {`);
  assert.ok(start >= 0, `chain ${name} missing:\n${nft}`);
  const body = nft.slice(start, nft.indexOf('\t}', start)).split('\n').slice(1);
  return body.map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

describe('firewall: planOffload', () => {
  it('offloads nothing unless firewall.offload is true', () => {
    const p = plan('    - { dst_cidr: [1.0.1.0/24], outbound: direct }', '');
    assert.deepEqual(p, { rules: [] });
    assert.doesNotMatch(renderFirewall(config('    - { dst_cidr: [1.0.1.0/24], outbound: direct }', '')).nft, /offload/);
  });

  it('takes the leading address and port rules, split by family and normalised', () => {
    const p = plan(`    - { name: cn, dst_cidr: [1.0.1.7/24, "2400:3200::1/32"], outbound: direct }
    - { name: web, src_cidr: [192.168.1.0/24], dst_port: [443, "8000-8100"], network: tcp, outbound: direct }`);
    assert.equal(p.stop, undefined);
    assert.deepEqual(
      p.rules.map((r) => [r.index, r.name, r.src4, r.src6, r.dst4, r.dst6]),
      [
        [0, 'cn', undefined, undefined, ['1.0.1.0/24'], ['2400:3200::/32']],
        [1, 'web', ['192.168.1.0/24'], [], undefined, undefined],
      ],
    );
    assert.deepEqual(p.rules[1].dst_port, [{ from: 443, to: 443 }, { from: 8000, to: 8100 }]);
    assert.deepEqual(p.rules[1].network, ['tcp']);
  });

  it('stops at the first rule that needs a name, and offloads no rule after it (first match wins)', () => {
    const p = plan(`    - { name: a, dst_cidr: [1.0.1.0/24], outbound: direct }
    - { name: sniffed, domain_suffix: [example.com], outbound: direct }
    - { name: later, dst_cidr: [9.9.9.9], outbound: direct }`);
    assert.deepEqual(p.rules.map((r) => r.name), ['a']);
    assert.equal(p.stop?.index, 1);
    assert.match(p.stop!.reason, /domain_suffix/);
  });

  const stops: Record<string, [string, RegExp]> = {
    'a group': ['    - { dst_cidr: [1.0.1.0/24], outbound: pick }', /group|selector/],
    'a proxy': ['    - { dst_cidr: [1.0.1.0/24], outbound: proxy }', /type socks, not direct/],
    'a direct outbound bound to an interface': ['    - { dst_cidr: [1.0.1.0/24], outbound: bound }', /sets interface/],
    'an inbound condition': ['    - { inbound: [in4], dst_cidr: [1.0.1.0/24], outbound: direct }', /inbound/],
    'a not condition': ['    - { not: { dst_cidr: [1.0.1.0/24] }, outbound: direct }', /not/],
    'a rule with no address or port condition': ['    - { network: [tcp, udp], outbound: direct }', /no address or port condition/],
  };
  for (const [what, [rules, reason]] of Object.entries(stops)) {
    it(`stops at ${what}`, () => {
      const p = plan(rules);
      assert.ok(p.stop, `expected a stop for ${what}`);
      assert.match(p.stop.reason, reason);
      assert.ok(p.rules.every((r) => r.index < p.stop!.index));
    });
  }

  it('offloads nothing when an inbound overrides destinations with sniffed names', () => {
    const c = parseConfig(
      `inbounds: [{ tag: in4, type: tproxy, listen: 0.0.0.0, port: 15001, sniff: true, override_destination: true }]
outbounds: [{ tag: direct, type: direct }]
route: { rules: [{ dst_cidr: [1.0.1.0/24], outbound: direct }] }
firewall: { offload: true }
`,
      { baseDir: '/' },
    );
    const p = planOffload(c);
    assert.deepEqual(p.rules, []);
    assert.match(p.stop!.reason, /override_destination/);
  });

  it('stops at destinations inside the fake-IP range, which only Sluice maps back to names', () => {
    const dns = 'dns: { listen: ["127.0.0.1:5353"], upstreams: [{ address: "udp://127.0.0.1:53" }], mode: fake-ip }';
    const p = plan(`    - { name: real, dst_cidr: [1.0.1.0/24], outbound: direct }
    - { name: fake, dst_cidr: [198.0.0.0/8], outbound: direct }`, `firewall: { offload: true }\n${dns}`);
    assert.deepEqual(p.rules.map((r) => r.name), ['real']);
    assert.match(p.stop!.reason, /fake_ip_range/);
  });
});

describe('firewall: offload rendering', () => {
  const RULES = `    - { name: cn, dst_cidr: [1.0.1.0/24, "2400:3200::/32"], outbound: direct }
    - { name: web, src_cidr: [192.168.1.0/24], dst_port: [443, "8000-8100"], network: tcp, outbound: direct }
    - { name: sniffed, domain: [example.com], outbound: direct }`;

  it('gateway: skips offloaded flows and their replies before tproxy, counts them in the forward hook', () => {
    const nft = renderFirewall(config(RULES)).nft;
    assert.match(nft, /\tset offload0_dst4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\tauto-merge\n\t\telements = { 1\.0\.1\.0\/24 }\n\t}/);
    assert.match(nft, /\tset offload0_dst6 {\n\t\ttype ipv6_addr\n[^}]*elements = { 2400:3200::\/32 }/);
    assert.match(nft, /\tset offload1_src4 {/);
    // The web rule names IPv4 clients only: no IPv6 set, no IPv6 match.
    assert.doesNotMatch(nft, /offload1_src6/);
    assert.match(nft, /\tcounter offload_up {\n\t}\n\tcounter offload_down {\n\t}/);
    assert.match(nft, /# Offloaded: rules\[0\] "cn" -> direct/);
    assert.match(nft, /# Not offloaded from rules\[2\] "sniffed" on \(first match wins\): it uses domain/);
    const pre = chain(nft, 'prerouting');
    const up = [
      'meta nfproto ipv4 ip daddr @offload0_dst4',
      'meta nfproto ipv6 ip6 daddr @offload0_dst6',
      'meta nfproto ipv4 ip saddr @offload1_src4 meta l4proto tcp th dport { 443, 8000-8100 }',
    ];
    const down = [
      'meta nfproto ipv4 ip saddr @offload0_dst4',
      'meta nfproto ipv6 ip6 saddr @offload0_dst6',
      'meta nfproto ipv4 ip daddr @offload1_src4 meta l4proto tcp th sport { 443, 8000-8100 }',
    ];
    const at = (line: string): number => pre.indexOf(line);
    for (const m of [...up, ...down.map((d) => `ct direction reply ${d}`)]) assert.ok(at(`${m} accept`) >= 0, `missing ${m} accept in prerouting:\n${pre.join('\n')}`);
    const tproxy = pre.findIndex((l) => l.includes('tproxy'));
    // Replies are recognised where the bypass replies are (before the interface filter); requests after it, before tproxy.
    assert.ok(at(`ct direction reply ${down[0]} accept`) < at('iif lo return'));
    assert.ok(at(`${up[0]} accept`) > at('iif lo return') && at(`${up[2]} accept`) < tproxy);
    assert.deepEqual(chain(nft, 'offload_forward'), [
      'type filter hook forward priority filter; policy accept;',
      ...up.map((m) => `ct direction original ${m} counter name offload_up return`),
      ...down.map((m) => `ct direction reply ${m} counter name offload_down return`),
    ]);
    // Replies are told from requests by conntrack: a client inside an offloaded destination set (a rule sending the
    // LAN direct) sends requests whose source is in the set, which a stateless reply rule would let escape capture.
    assert.ok(!pre.some((l) => /^meta nfproto ipv4 ip saddr @offload0_dst4/.test(l)), pre.join('\n'));
  });

  it('local mode: this host\'s own offloaded connections skip the mark and are counted in output and input', () => {
    const nft = renderFirewall(config(RULES, 'firewall: { offload: true, local: true }')).nft;
    const out = chain(nft, 'output');
    const mark = out.findIndex((l) => l.includes('meta mark set'));
    assert.ok(out.indexOf('meta nfproto ipv4 ip daddr @offload0_dst4 accept') >= 0 && out.indexOf('meta nfproto ipv4 ip daddr @offload0_dst4 accept') < mark);
    // conntrack already passes replies in local mode: no stateless reply rule in prerouting.
    assert.ok(!chain(nft, 'prerouting').includes('meta nfproto ipv4 ip saddr @offload0_dst4 accept'));
    assert.deepEqual(chain(nft, 'offload_output').slice(1, 3), ['meta mark & 0x2 == 0x2 return', 'ct direction original meta nfproto ipv4 ip daddr @offload0_dst4 counter name offload_up return']);
    assert.equal(chain(nft, 'offload_input')[1], 'ct direction reply meta nfproto ipv4 ip saddr @offload0_dst4 counter name offload_down return');
  });

  it('a redirect inbound: offloaded connections are not redirected', () => {
    const c = parseConfig(
      `inbounds: [{ tag: r, type: redirect, listen: 0.0.0.0, port: 15005 }]
outbounds: [{ tag: direct, type: direct }]
route: { rules: [{ dst_cidr: [203.0.113.0/24], dst_port: 80, outbound: direct }] }
firewall: { offload: true }
`,
      { baseDir: '/' },
    );
    const nat = chain(renderFirewall(c).nft, 'nat_prerouting');
    const skip = nat.indexOf('meta nfproto ipv4 ip daddr @offload0_dst4 meta l4proto { tcp, udp } th dport 80 return');
    assert.ok(skip >= 0 && skip < nat.findIndex((l) => l.includes('redirect to')), nat.join('\n'));
  });

  it('a rule without addresses matches both families with one rule', () => {
    const nft = renderFirewall(config('    - { dst_port: 853, network: udp, outbound: direct }')).nft;
    assert.deepEqual(chain(nft, 'offload_forward').slice(1), [
      'ct direction original meta l4proto udp th dport 853 counter name offload_up return',
      'ct direction reply meta l4proto udp th sport 853 counter name offload_down return',
    ]);
  });
});
