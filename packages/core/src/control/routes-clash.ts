import type { FastifyInstance } from 'fastify';
import { coreVersion } from '../outbound/compat';
import type { RouteMode } from './clash-types';
import { clashLevelOf, pinoLevelOf } from './log-tap';
import { describeRules } from './rule-view';
import type { ControlContext } from './context';

const MODES: readonly RouteMode[] = ['rule', 'global', 'direct'];

/** `/`, `/version`, `/configs`, `/rules` and the providers, in mihomo's shapes. */
export function registerClashRoutes(app: FastifyInstance, ctx: ControlContext): void {
  const { target } = ctx;
  app.get('/', async () => ({ hello: 'sluice' }));
  app.get('/version', async () => ({ meta: true, version: `sluice ${coreVersion()}` }));

  app.get('/configs', async () => {
    const config = target.config();
    const tproxy = config.inbounds[0];
    return {
      port: 0,
      'socks-port': 0,
      'redir-port': 0,
      'tproxy-port': tproxy?.port ?? 0,
      'mixed-port': 0,
      authentication: [],
      'allow-lan': config.inbounds.some((i) => !/^(127\.|::1$)/.test(i.listen)),
      'bind-address': tproxy?.listen ?? '*',
      mode: target.mode,
      'log-level': clashLevelOf(target.logLevel),
      ipv6: true,
      tun: { enable: false },
      sniffing: config.inbounds.some((i) => i.sniff),
      'interface-name': '',
      'unified-delay': false,
      'tcp-concurrent': false,
      'find-process-mode': 'off',
      'geodata-mode': false,
    };
  });

  app.patch('/configs', async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body)) return reply.code(400).send({ message: 'Body invalid' });
    const level = body['log-level'];
    let pinoLevel: string | undefined;
    if (level !== undefined) {
      pinoLevel = typeof level === 'string' ? pinoLevelOf(level.toLowerCase()) : undefined;
      if (!pinoLevel) return reply.code(400).send({ message: `log-level: must be one of debug, info, warning, error, silent (got ${JSON.stringify(level)})` });
    }
    const mode = body.mode;
    let m: RouteMode | undefined;
    if (mode !== undefined) {
      m = typeof mode === 'string' ? MODES.find((x) => x === mode.toLowerCase()) : undefined;
      if (!m) return reply.code(400).send({ message: `mode: must be one of rule, global, direct (got ${JSON.stringify(mode)})` });
    }
    try {
      if (m) await target.setMode(m, await ctx.global.now());
      if (pinoLevel) await target.setLogLevel(pinoLevel);
    } catch (err) {
      return reply.code(400).send({ message: (err as Error).message });
    }
    return reply.code(204).send();
  });

  app.put('/configs', async (req, reply) => {
    const body = (req.body ?? {}) as { path?: unknown; payload?: unknown };
    if (typeof body !== 'object' || Array.isArray(body)) return reply.code(400).send({ message: 'Body invalid' });
    const payload = typeof body.payload === 'string' && body.payload.trim() !== '' ? body.payload : undefined;
    if (payload === undefined && typeof body.path === 'string' && body.path !== '') {
      // Reading a file named by a request would let the API read any file; only the running config's own is reloaded.
      return reply.code(400).send({ message: 'path: only the running config file can be reloaded (send an empty path, or the config as payload)' });
    }
    try {
      await target.reload(payload);
    } catch (err) {
      return reply.code(400).send({ message: (err as Error).message });
    }
    return reply.code(204).send();
  });

  app.get('/rules', async () => {
    const [providers, hits] = await Promise.all([target.ruleProviders(), target.ruleHits()]);
    const sizes = new Map(providers.map((p) => [p.name, p.ruleCount]));
    return { rules: describeRules(target.config().route, sizes, hits) };
  });
  // Dashboards fail to load without it; Sluice has no proxy providers.
  app.get('/providers/proxies', async () => ({ providers: {} }));
  app.get('/providers/rules', async () => ({ providers: Object.fromEntries((await target.ruleProviders()).map((p) => [p.name, p])) }));
}
