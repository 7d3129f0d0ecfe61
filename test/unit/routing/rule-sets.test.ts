import { strict as assert } from 'node:assert';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig, parseRuleSet, RuleSetParseError, Router, RuleSetStore, type SluiceConfig } from '@sluice/core';
import { captureLogger } from '@sluice/core/testing';
import { flow } from './flows';

const HEAD = `
inbounds: [{ tag: in, type: tproxy, listen: 127.0.0.1, port: 15001 }]
outbounds: [{ tag: direct, type: direct }, { tag: deny, type: block }]
`;

const waitFor = async (cond: () => boolean, what: string, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('routing: rule sets', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-rule-sets-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const load = (ruleSets: string, rules = '    - { rule_set: [s], outbound: deny }'): SluiceConfig =>
    parseConfig(`${HEAD}route:\n  final: direct\n  rule_sets:\n${ruleSets}\n  rules:\n${rules}\n`, { baseDir: dir });
  const issuesOf = (fn: () => unknown): string[] => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.issues.map((i) => `${i.path}: ${i.message}`);
    }
    return [];
  };

  it('text: a bare name is that name only, +. a suffix, . names below, CIDRs and IPs, # comments', () => {
    const s = parseRuleSet('# list\nexact.test\n+.suffix.test  # trailing comment\n.below.test\n10.0.0.0/8\n2001:db8::1\n\n', 'text');
    assert.equal(s.size, 5);
    assert.equal(s.match(flow({ host: 'exact.test' })), true);
    assert.equal(s.match(flow({ host: 'www.exact.test' })), false);
    assert.equal(s.match(flow({ host: 'suffix.test' })), true);
    assert.equal(s.match(flow({ host: 'below.test' })), false);
    assert.equal(s.match(flow({ host: 'a.below.test' })), true);
    assert.equal(s.match(flow({ dst: '10.1.2.3' })), true);
    assert.equal(s.match(flow({ dst: '2001:db8::1' })), true);
    assert.equal(s.match(flow({ dst: '11.1.2.3' })), false);
    assert.equal(s.matchesHost('EXACT.test.'), true);
    assert.throws(() => parseRuleSet('ok.test\nbad name\n', 'text'), (e: unknown) => e instanceof RuleSetParseError && e.message === 'line 2: invalid domain "bad name"');
  });

  it('clash: behaviours domain, ipcidr and classical', () => {
    const dom = parseRuleSet("payload:\n  - '.blogger.com'\n  - '*.*.microsoft.com'\n  - 'books.itunes.apple.com'\n  - '+.example.org'\n", 'clash', 'domain');
    assert.equal(dom.match(flow({ host: 'www.blogger.com' })), true);
    assert.equal(dom.match(flow({ host: 'blogger.com' })), false);
    assert.equal(dom.match(flow({ host: 'a.b.microsoft.com' })), true);
    assert.equal(dom.match(flow({ host: 'b.microsoft.com' })), false);
    assert.equal(dom.match(flow({ host: 'books.itunes.apple.com' })), true);
    assert.equal(dom.match(flow({ host: 'example.org' })), true);
    const ip = parseRuleSet("payload:\n  - '192.168.1.0/24'\n  - '10.0.0.1'\n", 'clash', 'ipcidr');
    assert.equal(ip.match(flow({ dst: '192.168.1.77' })), true);
    assert.equal(ip.match(flow({ dst: '10.0.0.2' })), false);
    const cl = parseRuleSet(
      'payload:\n  - DOMAIN-SUFFIX,google.com\n  - DOMAIN-KEYWORD,tracker\n  - IP-CIDR,127.0.0.0/8,no-resolve\n  - DST-PORT,853\n  - AND,((NETWORK,UDP),(DST-PORT,443))\n',
      'clash',
      'classical',
    );
    assert.equal(cl.match(flow({ host: 'mail.google.com' })), true);
    assert.equal(cl.match(flow({ host: 'x.tracker.net' })), true);
    assert.equal(cl.match(flow({ dst: '127.0.0.9' })), true);
    assert.equal(cl.match(flow({ dport: 853 })), true);
    assert.equal(cl.match(flow({ network: 'udp' })), true);
    assert.equal(cl.match(flow()), false);
    assert.throws(() => parseRuleSet('payload:\n  - GEOIP,CN\n', 'clash', 'classical'), /payload\[0\]: unknown rule type "GEOIP"/);
    assert.throws(() => parseRuleSet('payload:\n  - RULE-SET,x\n', 'clash', 'classical'), /payload\[0\]: rule_set "x" cannot be used here/);
    assert.throws(() => parseRuleSet('nopayload: 1\n', 'clash', 'domain'), /has no "payload:" list/);
  });

  it('sing-box: source format versions 1-3, OR of names and ip_cidr, AND with the rest, logical and invert', () => {
    const s = parseRuleSet(
      JSON.stringify({
        version: 2,
        rules: [
          { domain: ['exact.test'], domain_suffix: ['suffix.test'], ip_cidr: ['10.0.0.0/8'] },
          { domain_keyword: 'ads', port: [853], network: 'udp' },
          { type: 'logical', mode: 'and', rules: [{ domain_regex: '^cdn\\d+\\.' }, { port_range: ['8000:9000'] }] },
          { source_ip_cidr: ['192.168.9.0/24'], invert: true },
        ],
      }),
      'sing-box',
    );
    const from = { src: '192.168.9.9' };
    assert.equal(s.match(flow({ ...from, host: 'x.suffix.test' })), true);
    assert.equal(s.match(flow({ ...from, dst: '10.9.9.9' })), true);
    assert.equal(s.match(flow({ ...from, host: 'ads.net', dport: 853, network: 'udp' })), true);
    assert.equal(s.match(flow({ ...from, host: 'ads.net', dport: 853 })), false);
    assert.equal(s.match(flow({ ...from, host: 'cdn3.net', dport: 8080 })), true);
    assert.equal(s.match(flow({ ...from, host: 'cdn3.net', dport: 443 })), false);
    assert.equal(s.match(flow({ src: '192.168.1.1' })), true, 'inverted source rule');
    assert.throws(() => parseRuleSet('{"version":4,"rules":[]}', 'sing-box'), /version: must be 1, 2 or 3/);
    assert.throws(() => parseRuleSet('{"version":1,"rules":[{"process_name":["x"]}]}', 'sing-box'), /rules\[0\]\.process_name: not supported by Sluice/);
    assert.throws(() => parseRuleSet('{"version":1,"rules":[{"port_range":["9:1"]}]}', 'sing-box'), /must be "from:to"/);
  });

  it('config: paths relative to the config file; format from the extension; errors name the key', () => {
    file('ads.txt', '+.ads.test\n');
    const c = load('    - { tag: s, type: file, path: ads.txt }');
    assert.deepEqual(c.route.rule_sets, [{ tag: s(), type: 'file', path: join(dir, 'ads.txt'), format: 'text' }]);
    assert.equal(new Router(c.route).route(flow({ host: 'x.ads.test' })).outbound, 'deny');
    function s(): string {
      return 's';
    }
    assert.deepEqual(
      issuesOf(() =>
        load(`    - { tag: s, type: file, path: missing.txt, format: text }
    - { tag: t, type: http, path: ads.txt, format: text }
    - { tag: u, path: ads.txt, format: clash }
    - { tag: v, path: ads.txt, format: text, behavior: domain }
    - { tag: w, path: ads.noext }`),
      ),
      [
        `route.rule_sets[0].path: file not found: ${join(dir, 'missing.txt')}`,
        'route.rule_sets[1].type: must be "file" (got "http")',
        'route.rule_sets[2].behavior: required for format: clash (one of domain, ipcidr, classical)',
        'route.rule_sets[3].behavior: only for format: clash',
        "route.rule_sets[4].format: required (one of text, clash, sing-box); the file's extension does not say",
      ],
    );
    file('bad.txt', 'ok.test\nnot a name\n');
    const bad = load('    - { tag: s, path: bad.txt }');
    assert.deepEqual(issuesOf(() => new Router(bad.route)), [`route.rule_sets[0].path: ${join(dir, 'bad.txt')}: line 2: invalid domain "not a name"`]);
  });

  it('watching: an edit is applied after a quiet period, a bad file keeps the previous contents, a rename-replace is seen', async () => {
    const path = file('live.txt', 'one.test\n');
    const c = load('    - { tag: s, path: live.txt }');
    const cap = captureLogger('info');
    const store = RuleSetStore.load(c.route.rule_sets, { watch: true, logger: cap.logger, debounceMs: 50 });
    try {
      const router = new Router(c.route, { ruleSets: store });
      const decide = (host: string): string => router.route(flow({ host })).outbound;
      assert.equal(decide('one.test'), 'deny');
      assert.equal(decide('two.test'), 'direct');

      writeFileSync(path, 'two.test\n');
      await waitFor(() => decide('two.test') === 'deny', 'the edit to apply');
      assert.equal(decide('one.test'), 'direct');
      const reloaded = cap.lines.find((l) => l.msg === 'rule set reloaded');
      assert.deepEqual([reloaded?.rule_set, reloaded?.path, reloaded?.entries], ['s', path, 1]);

      writeFileSync(path, 'two.test\nbad entry\n');
      await waitFor(() => cap.lines.some((l) => l.level === 'error'), 'the reload error');
      const err = cap.lines.find((l) => l.level === 'error')!;
      assert.deepEqual([err.rule_set, err.path, err.error], ['s', path, `${path}: line 2: invalid domain "bad entry"`]);
      assert.equal(decide('two.test'), 'deny', 'the previous contents are kept');

      // How editors save: write a new file, rename it over the old one.
      writeFileSync(join(dir, '.live.txt.swp'), 'three.test\n');
      renameSync(join(dir, '.live.txt.swp'), path);
      await waitFor(() => decide('three.test') === 'deny', 'the renamed file to apply');
      assert.equal(decide('two.test'), 'direct');
    } finally {
      store.close();
    }
  });
});
