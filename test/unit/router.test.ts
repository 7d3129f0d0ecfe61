import { strict as assert } from 'node:assert';
import type { FlowMetadata, Network } from '@sluice/core';
import { parseConfig } from '@sluice/core';
import {
  DstCidrMatcher,
  DstPortMatcher,
  InboundMatcher,
  NetworkMatcher,
  PortSet,
  Router,
  SrcCidrMatcher,
  SrcPortMatcher,
} from '@sluice/core';

function flow(p: { network?: Network; inbound?: string; src?: string; sport?: number; dst?: string; dport?: number }): FlowMetadata {
  return {
    id: '1',
    network: p.network ?? 'tcp',
    inbound: p.inbound ?? 'in4',
    src: { address: p.src ?? '192.168.1.10', port: p.sport ?? 40000 },
    dst: { address: p.dst ?? '198.51.100.1', port: p.dport ?? 443 },
  };
}

describe('router: matchers', () => {
  it('network', () => {
    const m = new NetworkMatcher(['udp']);
    assert.equal(m.match(flow({ network: 'udp' })), true);
    assert.equal(m.match(flow({ network: 'tcp' })), false);
    assert.equal(new NetworkMatcher(['tcp', 'udp']).match(flow({ network: 'tcp' })), true);
    assert.equal(m.toString(), 'network=udp');
  });

  it('inbound', () => {
    const m = new InboundMatcher(['in6', 'lan']);
    assert.equal(m.match(flow({ inbound: 'lan' })), true);
    assert.equal(m.match(flow({ inbound: 'in4' })), false);
    assert.equal(m.toString(), 'inbound=[in6,lan]');
  });

  it('src_cidr and dst_cidr look at their own side', () => {
    const src = new SrcCidrMatcher(['192.168.0.0/16']);
    const dst = new DstCidrMatcher(['192.168.0.0/16', '2001:db8::/32']);
    const f = flow({ src: '192.168.5.5', dst: '8.8.8.8' });
    assert.equal(src.match(f), true);
    assert.equal(dst.match(f), false);
    assert.equal(dst.match(flow({ dst: '2001:db8::53' })), true);
    assert.equal(dst.toString(), 'dst_cidr=[192.168.0.0/16,2001:db8::/32]');
  });

  it('src_port and dst_port match ports and ranges', () => {
    const dst = new DstPortMatcher([
      { from: 53, to: 53 },
      { from: 5000, to: 5100 },
    ]);
    assert.deepEqual(
      [52, 53, 54, 4999, 5000, 5050, 5100, 5101].map((p) => dst.match(flow({ dport: p }))),
      [false, true, false, false, true, true, true, false],
    );
    const src = new SrcPortMatcher([{ from: 1, to: 1023 }]);
    assert.equal(src.match(flow({ sport: 1023, dport: 40000 })), true);
    assert.equal(src.match(flow({ sport: 1024, dport: 80 })), false);
    assert.equal(dst.toString(), 'dst_port=[53,5000-5100]');
  });

  it('shortens long lists in toString', () => {
    const m = new DstCidrMatcher(Array.from({ length: 10 }, (_, i) => `10.0.${i}.0/24`));
    assert.equal(m.toString(), 'dst_cidr=[10.0.0.0/24,10.0.1.0/24,10.0.2.0/24,10.0.3.0/24,… +6]');
  });
});

describe('router: PortSet', () => {
  it('merges ranges and bisects', () => {
    const set = new PortSet([
      { from: 10, to: 20 },
      { from: 15, to: 30 },
      { from: 31, to: 31 },
      { from: 100, to: 100 },
      { from: 1, to: 1 },
    ]);
    assert.equal(set.rangeCount, 3);
    const expected = (p: number): boolean => p === 1 || (p >= 10 && p <= 31) || p === 100;
    for (let p = 0; p <= 65535; p++) assert.equal(set.has(p), expected(p), String(p));
    assert.throws(() => new PortSet([{ from: 5, to: 4 }]), RangeError);
  });
});

describe('router: Router', () => {
  const config = parseConfig(
    `
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001 }
  - { tag: in6, type: tproxy, listen: "::1", port: 15002 }
outbounds:
  - { tag: direct, type: direct }
  - { tag: deny, type: block }
  - { tag: proxy, type: socks }
route:
  rules:
    - { dst_cidr: [203.0.113.0/24], outbound: deny }
    - { name: dns, network: udp, dst_port: [53, "5000-5100"], outbound: direct }
    - { name: v6-lan, inbound: in6, src_cidr: "fd00::/8", outbound: direct }
    - { dst_port: 53, outbound: deny }
  final: proxy
`,
    { baseDir: '/' },
  );
  const router = new Router(config.route);

  it('returns the first matching rule by name, or rules[i] when unnamed', () => {
    assert.deepEqual(router.route(flow({ dst: '203.0.113.9', dport: 53, network: 'udp' })), { rule: 'rules[0]', outbound: 'deny' });
    assert.deepEqual(router.route(flow({ dport: 53, network: 'udp' })), { rule: 'dns', outbound: 'direct' });
    assert.deepEqual(router.route(flow({ dport: 5100, network: 'udp' })), { rule: 'dns', outbound: 'direct' });
    assert.deepEqual(router.route(flow({ dport: 53, network: 'tcp' })), { rule: 'rules[3]', outbound: 'deny' });
  });

  it('requires every condition of a rule (AND)', () => {
    assert.equal(router.route(flow({ inbound: 'in6', src: 'fd00::5', dst: '2001:db8::1' })).rule, 'v6-lan');
    assert.equal(router.route(flow({ inbound: 'in4', src: 'fd00::5', dst: '2001:db8::1' })).rule, 'final');
    assert.equal(router.route(flow({ inbound: 'in6', src: 'fe80::5', dst: '2001:db8::1' })).rule, 'final');
  });

  it('falls back to final', () => {
    assert.deepEqual(router.route(flow({ dport: 443 })), { rule: 'final', outbound: 'proxy' });
  });

  it('matches IPv4-mapped destinations against IPv4 rules', () => {
    assert.equal(router.route(flow({ dst: '::ffff:203.0.113.1' })).outbound, 'deny');
  });

  it('describes its rules', () => {
    assert.equal(
      router.toString(),
      [
        'rules[0]: dst_cidr=203.0.113.0/24 -> deny',
        'dns: network=udp && dst_port=[53,5000-5100] -> direct',
        'v6-lan: inbound=in6 && src_cidr=fd00::/8 -> direct',
        'rules[3]: dst_port=53 -> deny',
        'final -> proxy',
      ].join('\n'),
    );
  });
});
