import { strict as assert } from 'node:assert';
import { ClashSyntaxError, ConfigError, parseClashCondition, parseClashRule, parseConfig, Router } from '@sluice/core';
import { flow } from './flows';

const HEAD = `
inbounds: [{ tag: in, type: tproxy, listen: 127.0.0.1, port: 15001 }]
outbounds: [{ tag: direct, type: direct }, { tag: proxy, type: block }, { tag: deny, type: block }]
`;
const config = (lines: string[], final = 'direct'): string => `${HEAD}route:\n  final: ${final}\n  rules:\n${lines.map((l) => `    - ${JSON.stringify(l)}\n`).join('')}`;
const issuesOf = (text: string): string[] => {
  try {
    parseConfig(text, { baseDir: '/' });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
};

describe('routing: Clash rule lines', () => {
  it('reads every leaf type into the structured condition', () => {
    const cases: [string, object][] = [
      ['DOMAIN,Example.COM,proxy', { domain: ['example.com'] }],
      ['DOMAIN-SUFFIX,example.com,proxy', { domain_suffix: ['example.com'] }],
      ['DOMAIN-KEYWORD,Google,proxy', { domain_keyword: ['google'] }],
      ['DOMAIN-REGEX,^a{1,3}\\.com$,proxy', { domain_regex: ['^a{1,3}\\.com$'] }],
      ['IP-CIDR,10.0.0.0/8,proxy,no-resolve', { dst_cidr: ['10.0.0.0/8'] }],
      ['IP-CIDR6,2001:db8::/32,proxy', { dst_cidr: ['2001:db8::/32'] }],
      ['SRC-IP-CIDR,192.168.1.0/24,proxy', { src_cidr: ['192.168.1.0/24'] }],
      ['DST-PORT,80/8000-9000,proxy', { dst_port: [{ from: 80, to: 80 }, { from: 8000, to: 9000 }] }],
      ['SRC-PORT,7777,proxy', { src_port: [{ from: 7777, to: 7777 }] }],
      ['NETWORK,UDP,proxy', { network: ['udp'] }],
      ['IN-NAME,in,proxy', { inbound: ['in'] }],
      ['RULE-SET,ads,proxy', { rule_set: ['ads'] }],
      ['MATCH,proxy', {}],
    ];
    for (const [line, condition] of cases) {
      const r = parseClashRule(line);
      assert.deepEqual(r.condition, condition, line);
      assert.equal(r.target, 'proxy', line);
    }
    assert.equal(parseClashRule('DOMAIN-REGEX,^a{1,3}\\.com$,proxy').payload, '^a{1,3}\\.com$', 'a regex keeps its commas');
  });

  it('reads nested AND / OR / NOT', () => {
    const r = parseClashRule('AND,((DOMAIN,a.com),(OR,((NETWORK,UDP),(NOT,((DST-PORT,443)))))),proxy');
    assert.equal(r.type, 'AND');
    assert.equal(r.payload, '((DOMAIN,a.com),(OR,((NETWORK,UDP),(NOT,((DST-PORT,443))))))');
    assert.deepEqual(r.condition, {
      all: [{ domain: ['a.com'] }, { any: [{ network: ['udp'] }, { not: { dst_port: [{ from: 443, to: 443 }] } }] }],
    });
    assert.deepEqual(parseClashCondition('NOT,((DOMAIN,a.com))').condition, { not: { domain: ['a.com'] } });
    assert.deepEqual(parseClashCondition('IP-CIDR,10.0.0.0/8,no-resolve').condition, { dst_cidr: ['10.0.0.0/8'] });
  });

  it('refuses malformed lines with a reason', () => {
    const bad: [string, RegExp][] = [
      ['FOO,bar,direct', /^unknown rule type "FOO"$/],
      ['DOMAIN,a.com', /DOMAIN needs a payload and a target/],
      ['DOMAIN', /malformed DOMAIN rule/],
      ['IP-CIDR,10.0.0.0/33,direct', /invalid CIDR "10.0.0.0\/33"/],
      ['IP-CIDR6,10.0.0.0/8,direct', /IP-CIDR6 needs an IPv6 prefix/],
      ['DST-PORT,0,direct', /invalid port "0"/],
      ['NETWORK,ICMP,direct', /NETWORK must be TCP or UDP/],
      ['AND,(DOMAIN,a.com),direct', /each condition must be in parentheses/],
      ['AND,((DOMAIN,a.com),(NETWORK,UDP),direct', /unbalanced parentheses/],
      ['NOT,((DOMAIN,a.com),(NETWORK,UDP)),direct', /NOT takes exactly one condition/],
      ['AND,((DOMAIN,a.com))', /AND needs a target/],
      ['OR,((MATCH,x)),direct', /MATCH is a whole rule/],
      ['MATCH,a,b', /MATCH takes only a target/],
      ['DOMAIN,a.com,x,y', /too many fields for DOMAIN/],
      ['', /empty rule/],
    ];
    for (const [line, re] of bad) assert.throws(() => parseClashRule(line), (err: unknown) => err instanceof ClashSyntaxError && re.test(err.message), line);
  });

  it('in route.rules: mixed with structured rules; errors name the index and quote the line', () => {
    assert.deepEqual(issuesOf(config(['DOMAIN,a.com,proxy', 'NETWORK,UDP,deny', 'IP-CIDR,1.2.3.4/32,nowhere', 'IN-NAME,out,proxy', 'FOO,bar,direct'])), [
      'route.rules[2]: unknown outbound "nowhere" in "IP-CIDR,1.2.3.4/32,nowhere"',
      'route.rules[3]: unknown inbound "out" in "IN-NAME,out,proxy"',
      'route.rules[4]: unknown rule type "FOO" in "FOO,bar,direct"',
    ]);
  });

  it('routes, and MATCH takes every flow before final', () => {
    const c = parseConfig(config(['AND,((DOMAIN,a.com),(NETWORK,UDP)),deny', 'DOMAIN-SUFFIX,a.com,proxy', 'MATCH,proxy', 'NETWORK,TCP,deny'], 'direct'), { baseDir: '/' });
    const r = new Router(c.route);
    assert.deepEqual(r.route(flow({ host: 'a.com', network: 'udp' })), { rule: 'rules[0]', outbound: 'deny' });
    assert.deepEqual(r.route(flow({ host: 'www.a.com' })), { rule: 'rules[1]', outbound: 'proxy' });
    assert.deepEqual(r.route(flow()), { rule: 'rules[2]', outbound: 'proxy' });
    assert.deepEqual(
      r.rules.map((x) => `${x.type}|${x.payload}`),
      ['AND|((DOMAIN,a.com),(NETWORK,UDP))', 'DOMAIN-SUFFIX|a.com', 'MATCH|', 'NETWORK|TCP'],
    );
    assert.equal(String(r.rules[0]), 'rules[0]: AND,((DOMAIN,a.com),(NETWORK,UDP)) -> deny');
  });
});
