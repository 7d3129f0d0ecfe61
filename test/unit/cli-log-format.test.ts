import { strict as assert } from 'node:assert';
import { parseConfig } from '@sluice/core';
import { resolveLogFormat, startupSummary } from '@sluice/core/cli';

describe('cli: sluice run log format and startup summary', () => {
  it('defaults to pretty on a terminal and JSON otherwise; --log-format wins; anything else is refused', () => {
    assert.equal(resolveLogFormat(undefined, true), 'pretty');
    assert.equal(resolveLogFormat(undefined, false), 'json');
    assert.equal(resolveLogFormat('json', true), 'json');
    assert.equal(resolveLogFormat('pretty', false), 'pretty');
    assert.throws(() => resolveLogFormat('text', true), /--log-format: must be "json" or "pretty", not "text"/);
  });

  it('says one line per inbound (address, networks, sniffing), the rule count, and the outbounds with their types', () => {
    const config = parseConfig(
      `
inbounds:
  - { tag: in4, type: tproxy, listen: 127.0.0.1, port: 15001, network: [tcp, udp] }
  - { tag: in6, type: tproxy, listen: "::1", port: 15002, network: [tcp] }
outbounds:
  - { tag: direct, type: direct, mark: 0x2 }
  - { tag: deny, type: block }
route:
  rules:
    - { dst_cidr: [203.0.113.0/24], outbound: deny }
    - { dst_port: [25], outbound: deny }
  final: direct
`,
      { format: 'yaml', baseDir: '/tmp' },
    );
    const lines = startupSummary(config);
    assert.deepEqual(
      lines.map((l) => l.text),
      [
        'inbound in4: tproxy on 127.0.0.1:15001, tcp+udp, sniff off',
        'inbound in6: tproxy on [::1]:15002, tcp, sniff off',
        '2 rules, final: direct',
        'outbounds: direct (direct), deny (block)',
      ],
    );
    assert.deepEqual(
      lines.map((l) => l.msg),
      ['inbound ready', 'inbound ready', 'rules loaded', 'outbounds ready'],
    );
    assert.deepEqual(lines[1]!.fields, { inbound: 'in6', type: 'tproxy', address: '[::1]:15002', network: ['tcp'], sniff: false });
    assert.deepEqual(lines[3]!.fields, { outbounds: [{ tag: 'direct', type: 'direct' }, { tag: 'deny', type: 'block' }] });
  });
});
