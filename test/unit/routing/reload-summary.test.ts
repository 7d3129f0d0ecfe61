import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeReload, parseConfig } from '@sluice/core';

describe('routing: the reload summary', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-reload-summary-'));
    for (const f of ['a.txt', 'b.txt', 'c.txt']) writeFileSync(join(dir, f), 'x.test\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const config = (ruleSets: string, rules: string): ReturnType<typeof parseConfig> =>
    parseConfig(
      `inbounds: [{ tag: in, type: tproxy, listen: 127.0.0.1, port: 15001 }]
outbounds: [{ tag: direct, type: direct }, { tag: deny, type: block }]
route:
  final: direct
  rule_sets:
${ruleSets}
  rules:
${rules}`,
      { baseDir: dir },
    );

  it('lists rules added and removed (Clash lines included) and rule sets added, removed and changed', () => {
    const before = config(
      '    - { tag: a, path: a.txt }\n    - { tag: b, path: b.txt }\n',
      '    - "RULE-SET,a,deny"\n    - { rule_set: b, outbound: deny }\n    - "DOMAIN,x.test,deny"\n',
    );
    const after = config(
      '    - { tag: a, path: a.txt }\n    - { tag: b, path: c.txt }\n    - { tag: n, path: a.txt }\n',
      '    - "RULE-SET,a,deny"\n    - { rule_set: [b, n], outbound: deny }\n',
    );
    const s = describeReload(before, after);
    assert.deepEqual(s.rules, { before: 3, after: 2, added: 1, removed: 2 });
    assert.deepEqual(s.ruleSets, { added: ['n'], removed: [], changed: ['b'] });
    assert.deepEqual(describeReload(after, before).ruleSets, { added: [], removed: ['n'], changed: ['b'] });
  });
});
