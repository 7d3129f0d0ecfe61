import { strict as assert } from 'node:assert';
import { isConfigError, parseConfig, type SluiceConfig } from '@sluice/core';

function parse(dns: unknown, extra: Record<string, unknown> = {}): SluiceConfig {
  const doc = {
    inbounds: [{ tag: 'in', type: 'tproxy', listen: '127.0.0.1', port: 15001 }],
    outbounds: [{ tag: 'direct', type: 'direct' }, { tag: 'deny', type: 'block' }],
    route: { final: 'direct' },
    dns,
    ...extra,
  };
  return parseConfig(JSON.stringify(doc), { baseDir: '/', format: 'json' });
}

function issues(dns: unknown, extra?: Record<string, unknown>): string[] {
  try {
    parse(dns, extra);
  } catch (err) {
    assert.ok(isConfigError(err));
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return assert.fail('accepted');
}

describe('config: dns', () => {
  it('reads a full section and fills defaults', () => {
    const c = parse({
      listen: ['0.0.0.0:1053', '[::1]:1053'],
      upstreams: ['udp://192.0.2.53', { tag: 'corp', address: 'tls://dns.corp.example', via: 'direct' }, { tag: 'doh', address: 'https://dns.example/dns-query' }],
      rules: [{ domain_suffix: ['corp.example'], upstream: 'corp' }],
      hosts: { 'Router.LAN': '192.168.1.1' },
      mode: 'fake-ip',
      fake_ip_filter: ['*.lan', '+.stun.example'],
      hijack: true,
    }).dns!;
    assert.deepEqual(c.listen, [{ address: '0.0.0.0', port: 1053 }, { address: '::1', port: 1053 }]);
    assert.deepEqual(c.upstreams.map((u) => u.tag), ['upstreams[0]', 'corp', 'doh']);
    assert.equal(c.upstreams[1].via, 'direct');
    assert.deepEqual(c.hosts, { 'router.lan': ['192.168.1.1'] });
    assert.equal(c.mode, 'fake-ip');
    assert.deepEqual(c.fake_ip_range, ['198.18.0.0/15', 'fc00::/18']);
    assert.equal(c.fake_ip_store, '/var/lib/sluice/fake-ip.json');
    assert.deepEqual(c.cache, { size: 4096, min_ttl: 0, max_ttl: 86400, negative_ttl: 30 });
    assert.equal(c.hijack, true);
    assert.equal(parse(undefined).dns, undefined, 'no section, no resolver');
  });

  it('names the key path of every problem', () => {
    const found = issues({
      listen: ['127.0.0.1', '[::1]:99999'],
      upstreams: ['ftp://x', 'udp://dns.example', { address: 'tcp://192.0.2.1', via: 'nope' }],
      rules: [{ domain_suffix: ['corp.example'], upstream: 'missing' }, { upstream: 'upstreams[0]' }, { rule_set: ['ads'], upstream: 'upstreams[0]' }],
      cache: { min_ttl: 100, max_ttl: 10, sizes: 1 },
      mode: 'fake',
      fake_ip_range: ['198.18.0.0/31'],
      hosts: { 'a.test': 'not-an-ip' },
      hijack: 'yes',
      listne: [],
    });
    const expected = [
      'dns.listen[0]: must be "IP:port" or "[IPv6]:port" (got "127.0.0.1")',
      'dns.listen[1]: must be "IP:port" or "[IPv6]:port" (got "[::1]:99999")',
      /^dns\.upstreams\[0\]\.address: must be udp:\/\/IP/,
      /^dns\.upstreams\[1\]\.address: invalid upstream "udp:\/\/dns.example": udp:\/\/ and tcp:\/\/ take an IP address/,
      'dns.upstreams[2].via: unknown outbound "nope"',
      'dns.rules[0].upstream: unknown upstream "missing" (dns.upstreams[].tag)',
      'dns.rules[1]: has no match condition (one of domain, domain_suffix, rule_set)',
      'dns.rules[2].rule_set[0]: unknown rule set "ads" (route.rule_sets)',
      'dns.cache.sizes: unknown key "sizes" (did you mean "size"?)',
      'dns.cache.min_ttl: must not exceed dns.cache.max_ttl (10)',
      'dns.mode: must be "mapping" or "fake-ip" (got "fake")',
      'dns.fake_ip_range[0]: 198.18.0.0/31 is too small for a fake-IP pool (at most /30 or /126)',
      'dns.hosts.a.test: must be an IP address (got "not-an-ip")',
      'dns.hijack: must be true or false (got "yes")',
      'dns.listne: unknown key "listne" (did you mean "listen"?)',
    ];
    for (const e of expected) assert.ok(found.some((l) => (typeof e === 'string' ? l === e : e.test(l))), `expected ${String(e)} among:\n${found.join('\n')}`);
  });

  it('requires listen and an upstream, one worker, and a via in local mode', () => {
    const found = issues({});
    assert.ok(found.includes('dns.listen: required (for example ["127.0.0.1:1053", "[::1]:1053"])'));
    assert.ok(found.includes('dns.upstreams: required: at least one upstream (for example "udp://192.0.2.53")'));
    const section = { listen: ['127.0.0.1:1053'], upstreams: ['udp://192.0.2.53'] };
    assert.ok(issues(section, { workers: 2 }).includes('workers: must be 1 when the config has a dns section: the IP → name mapping lives in one event loop'));
    const local = issues(section, { firewall: { local: true }, outbounds: [{ tag: 'direct', type: 'direct', mark: 255 }] });
    assert.ok(local.some((l) => l.startsWith('dns.upstreams[0].via: required with firewall.local: true')), local.join('\n'));
    assert.ok(issues({ ...section, hijack: true }).some((l) => l.startsWith('dns.hijack: needs a dns.listen address other hosts can reach')));
  });
});
