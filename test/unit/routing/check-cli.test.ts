import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../helpers/cli';

const CONFIG = `inbounds: [{ tag: in, type: tproxy, listen: 127.0.0.1, port: 15001 }]
outbounds: [{ tag: direct, type: direct, mark: 0x2 }, { tag: deny, type: block }]
firewall: { interfaces: [lan0] }
route:
  final: direct
  rule_sets:
    - { tag: ads, path: ads.txt }
  rules:
    - { domain_suffix: [example.com], domain: a.test, outbound: deny }
    - { any: [{ network: udp }, "DST-PORT,853"], rule_set: ads, outbound: deny }
    - "AND,((DOMAIN,a.com),(NETWORK,UDP)),deny"
    - "MATCH,direct"
    - "IP-CIDR,10.0.0.0/8,deny,no-resolve"
`;

describe('sluice check: routing by name', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-check-routing-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the compiled rules readably, and warns about rules after MATCH', async () => {
    writeFileSync(join(dir, 'ads.txt'), '+.ads.test\n');
    writeFileSync(join(dir, 'c.yaml'), CONFIG);
    const r = await runCli('check', '-c', join(dir, 'c.yaml'));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        'config OK: 1 inbounds, 2 outbounds, 5 rules',
        '  rules[0]: (domain=a.test || domain_suffix=example.com) -> deny',
        '  rules[1]: rule_set=ads && any(network=udp || dst_port=853) -> deny',
        '  rules[2]: AND,((DOMAIN,a.com),(NETWORK,UDP)) -> deny',
        '  rules[3]: MATCH -> direct',
        '  rules[4]: IP-CIDR,10.0.0.0/8 -> deny',
        '  final -> direct',
        '',
      ].join('\n'),
    );
    assert.equal(r.stderr, 'warning: route.rules[4]: never reached: rules[3] (MATCH) takes every flow, so the rule after it and route.final are unused\n');
  });

  it('a rule-set file that does not parse is an error naming its key', async () => {
    writeFileSync(join(dir, 'ads.txt'), '+.ads.test\nbad entry\n');
    writeFileSync(join(dir, 'c.yaml'), CONFIG);
    const r = await runCli('check', '-c', join(dir, 'c.yaml'));
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `route.rule_sets[0].path: ${join(dir, 'ads.txt')}: line 2: invalid domain "bad entry"\n`);
  });
});
