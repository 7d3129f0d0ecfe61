import { hex, policyRoutingFamilies } from '../families';
import { fail, ok } from '../result';
import type { DoctorCheck } from '../types';

/**
 * The pair `sluice rules` installs per address family with a tproxy inbound
 * (or with any inbound when an outbound is transparent):
 * `ip rule … fwmark F lookup T` and `local default dev lo table T`. Without
 * either, packets the tproxy rule marked are routed on instead of delivered
 * to Sluice's socket.
 */
export const policyRoutingCheck: DoctorCheck = {
  id: 'policy-routing',
  title: 'the ip rule (fwmark -> table) and the local default route in that table, per family',
  async run(ctx) {
    const { fwmark, table } = ctx.config.firewall;
    const missing: string[] = [];
    const families = policyRoutingFamilies(ctx.config);
    // nat redirect delivers to a local address by itself.
    if (families.length === 0) return ok('not needed: redirect inbounds only, and no transparent outbound');
    for (const f of families) {
      const ip = f === 6 ? ['ip', '-6'] : ['ip', '-4'];
      const rule = await ctx.run([...ip, 'rule', 'list', 'fwmark', hex(fwmark), 'lookup', String(table)]);
      if (rule.code !== 0 || rule.stdout.trim() === '') missing.push(`${ip.join(' ')} rule: fwmark ${hex(fwmark)} lookup ${table}`);
      // Exit 2 with "FIB table does not exist" when nothing was ever added to the table.
      const route = await ctx.run([...ip, 'route', 'show', 'table', String(table)]);
      if (route.code !== 0 || !/^local default dev lo\b/m.test(route.stdout)) missing.push(`${ip.join(' ')} route: local default dev lo table ${table}`);
    }
    if (missing.length === 0) return ok(`fwmark ${hex(fwmark)} -> table ${table} -> local default dev lo (${families.map((f) => `IPv${f}`).join(' and ')})`);
    return fail(`missing ${missing.join('; ')}`, `sluice rules -c ${ctx.configPath} --apply`);
  },
};
