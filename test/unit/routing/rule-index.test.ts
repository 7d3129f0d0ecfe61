import { strict as assert } from 'node:assert';
import { Router, type RuleConfig } from '@sluice/core';
import { flow } from './flows';

/** What the router must agree with: every rule in order, first match wins. */
const reference = (r: Router, f: ReturnType<typeof flow>): string => r.rules.find((x) => x.match(f))?.decision.rule ?? 'final';

describe('routing: runs of name-only and CIDR-only rules are indexed', () => {
  it('picks the first matching rule of a run, as checking them in order would', () => {
    let seed = 11;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const names = ['a.test', 'b.a.test', 'c.b.a.test', 'x.test', 'test', 'y.x.test'];
    const cidrs = ['10.0.0.0/8', '10.1.0.0/16', '10.1.2.0/24', '10.1.2.3/32', '0.0.0.0/0', '2001:db8::/32', '2001:db8:1::/48', '::ffff:10.9.0.0/112'];
    const rules: RuleConfig[] = [];
    for (let i = 0; i < 300; i++) {
      const kind = rnd(10);
      const base = { name: `rules[${i}]`, outbound: `o${i % 3}` };
      if (kind < 3) rules.push({ ...base, domain: [names[rnd(names.length)]] });
      else if (kind < 6) rules.push({ ...base, domain_suffix: [`${rnd(4) === 0 ? '.' : ''}${names[rnd(names.length)]}`] });
      else if (kind < 9) rules.push({ ...base, dst_cidr: [cidrs[rnd(cidrs.length)]] });
      else rules.push({ ...base, network: ['udp'], dst_port: [{ from: 53, to: 53 }] });
    }
    const router = new Router({ rules, rule_sets: [], final: 'final', hook_timeout_ms: 1000 });
    const hosts = [...names, 'q.c.b.a.test', 'none.example', 'A.TEST.', undefined];
    const addrs = ['10.1.2.3', '10.1.2.4', '10.1.9.9', '10.200.0.1', '192.0.2.1', '2001:db8:1::5', '2001:db8:2::5', '2001:dead::1', '::ffff:10.9.1.1', '10.9.1.1'];
    let checked = 0;
    for (const host of hosts) {
      for (const dst of addrs) {
        for (const network of ['tcp', 'udp'] as const) {
          const f = flow({ host, dst, network, dport: 53 });
          assert.equal(router.route(f).rule, reference(router, f), `${host} ${dst} ${network}`);
          checked++;
        }
      }
    }
    assert.equal(checked, hosts.length * addrs.length * 2);
  });

  it('a long run of Clash DOMAIN-SUFFIX lines keeps rule names and outbounds', () => {
    const rules: RuleConfig[] = Array.from({ length: 1000 }, (_, i) => ({ name: `rules[${i}]`, domain_suffix: [`s${i}.test`], outbound: `o${i}`, clash: `DOMAIN-SUFFIX,s${i}.test,o${i}` }));
    const router = new Router({ rules, rule_sets: [], final: 'f', hook_timeout_ms: 1000 });
    assert.deepEqual(router.route(flow({ host: 'www.s777.test' })), { rule: 'rules[777]', outbound: 'o777' });
    assert.deepEqual(router.route(flow({ host: 's1000.test' })), { rule: 'final', outbound: 'f' });
  });
});
