import { strict as assert } from 'node:assert';
import { ConfigError, parseConfig, Router } from '@sluice/core';
import { flow } from './flows';

const HEAD = `
inbounds: [{ tag: in, type: tproxy, listen: 127.0.0.1, port: 15001 }]
outbounds: [{ tag: direct, type: direct }, { tag: proxy, type: block }, { tag: deny, type: block }]
`;
const config = (rules: string, final = 'direct'): string => `${HEAD}route:\n  final: ${final}\n  rules:\n${rules}`;
const issuesOf = (text: string): string[] => {
  try {
    parseConfig(text, { baseDir: '/' });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
};

describe('routing: structured rules with domains and logic', () => {
  it('domain fields take a string or a list, are normalised, and route by host', () => {
    const c = parseConfig(
      config(`    - { domain: Exact.Test., outbound: deny }
    - { domain_suffix: [example.com], domain_keyword: ads, outbound: proxy }
    - { domain_regex: '^cdn[0-9]+\\.', network: tcp, outbound: deny }`),
      { baseDir: '/' },
    );
    assert.deepEqual(c.route.rules[0].domain, ['exact.test']);
    const r = new Router(c.route);
    assert.equal(r.route(flow({ host: 'exact.test' })).outbound, 'deny');
    assert.equal(r.route(flow({ host: 'www.example.com' })).outbound, 'proxy');
    assert.equal(r.route(flow({ host: 'example.com' })).outbound, 'proxy');
    assert.equal(r.route(flow({ host: 'myads.net' })).outbound, 'proxy');
    assert.equal(r.route(flow({ host: 'cdn7.net' })).outbound, 'deny');
    assert.equal(r.route(flow({ host: 'cdn7.net', network: 'udp' })).outbound, 'direct');
    assert.equal(r.route(flow()).outbound, 'direct', 'no host: no domain rule matches');
  });

  it('all / any / not nest, with Clash conditions allowed as entries', () => {
    const c = parseConfig(
      config(`    - outbound: deny
      all:
        - { domain_suffix: a.test }
        - any: [{ network: udp }, { dst_port: 853 }]
    - { not: { any: [{ dst_port: [80, 443] }, "NETWORK,UDP"] }, outbound: proxy }`),
      { baseDir: '/' },
    );
    const r = new Router(c.route);
    assert.equal(r.route(flow({ host: 'x.a.test', network: 'udp' })).outbound, 'deny');
    assert.equal(r.route(flow({ host: 'x.a.test', dport: 853 })).outbound, 'deny');
    assert.equal(r.route(flow({ host: 'x.a.test' })).outbound, 'direct');
    assert.equal(r.route(flow({ dport: 22 })).outbound, 'proxy');
    assert.equal(r.rules[0].type, 'AND');
    assert.equal(r.rules[0].payload, '((DOMAIN-SUFFIX,a.test),(OR,((NETWORK,UDP),(DST-PORT,853))))');
    assert.equal(r.rules[1].type, 'NOT');
  });

  it('each compiled rule has a Clash type and payload', () => {
    const c = parseConfig(
      config(`    - { domain_suffix: a.test, outbound: deny }
    - { dst_cidr: ["2001:db8::/32"], outbound: deny }
    - { dst_cidr: [10.0.0.0/8, 192.168.0.0/16], outbound: deny }
    - { inbound: in, outbound: proxy }`),
      { baseDir: '/' },
    );
    const r = new Router(c.route);
    assert.deepEqual(
      r.rules.map((x) => [x.type, x.payload]),
      [
        ['DOMAIN-SUFFIX', 'a.test'],
        ['IP-CIDR6', '2001:db8::/32'],
        ['OR', '((IP-CIDR,10.0.0.0/8),(IP-CIDR,192.168.0.0/16))'],
        ['IN-NAME', 'in'],
      ],
    );
  });

  it('bad values are config errors naming the key', () => {
    assert.deepEqual(
      issuesOf(
        config(`    - { domain: "bad name", outbound: deny }
    - { domain_regex: "(", outbound: deny }
    - { all: [], outbound: deny }
    - { not: { nosuch: 1 }, outbound: deny }
    - { any: ["FOO,bar"], outbound: deny }
    - { rule_set: [nope], outbound: deny }`),
      ),
      [
        'route.rules[0].domain: invalid domain "bad name"',
        'route.rules[1].domain_regex: invalid regular expression: Invalid regular expression: /(/i: Unterminated group',
        'route.rules[2].all: must be a non-empty list of conditions',
        'route.rules[3].not.nosuch: unknown key "nosuch"',
        'route.rules[3].not: has no condition (one of network, inbound, src_cidr, dst_cidr, src_port, dst_port, protocol, domain, domain_suffix, domain_keyword, domain_regex, rule_set, all, any, not)',
        'route.rules[4].any[0]: unknown rule type "FOO" in "FOO,bar"',
        'route.rules[5].rule_set[0]: unknown rule set "nope"',
      ],
    );
  });
});
