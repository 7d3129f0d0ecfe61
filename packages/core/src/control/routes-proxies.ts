import type { FastifyInstance, FastifyReply } from 'fastify';
import { DelayTimeoutError, NotSelectorError, type ProxyState } from './groups-view';
import type { ControlContext } from './context';

/** A proxy as mihomo serializes one (the fields dashboards read, and the rest at their neutral values). */
function toClash(p: ProxyState): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: p.name,
    type: p.type,
    udp: p.udp,
    xudp: false,
    tfo: false,
    mptcp: false,
    smux: false,
    interface: '',
    'dialer-proxy': '',
    'routing-mark': 0,
    'provider-name': '',
    alive: p.alive,
    history: p.history,
    extra: {},
    id: p.name,
  };
  if (p.all !== undefined) {
    out.now = p.now ?? '';
    out.all = p.all;
    out.hidden = false;
    out.icon = '';
    out.testUrl = '';
    out.fixed = '';
    out.expectedStatus = '*';
  }
  return out;
}

interface DelayQuery {
  url?: string;
  timeout?: string;
}

/** `/proxies`, `/proxies/:name`, selection, delay tests, `/group`. */
export function registerProxyRoutes(app: FastifyInstance, ctx: ControlContext): void {
  const { groups, global } = ctx;
  const all = async (): Promise<ProxyState[]> => {
    const list = await groups.list();
    return [...list, global.state(list)];
  };
  const find = async (name: string): Promise<ProxyState | undefined> => (await all()).find((p) => p.name === name);
  const notFound = (reply: FastifyReply): FastifyReply => reply.code(404).send({ message: 'Resource not found' });

  app.get('/proxies', async () => ({ proxies: Object.fromEntries((await all()).map((p) => [p.name, toClash(p)])) }));

  app.get<{ Params: { name: string } }>('/proxies/:name', async (req, reply) => {
    const p = await find(req.params.name);
    return p ? toClash(p) : notFound(reply);
  });

  app.put<{ Params: { name: string } }>('/proxies/:name', async (req, reply) => {
    const p = await find(req.params.name);
    if (!p) return notFound(reply);
    const body = req.body as { name?: unknown } | undefined;
    if (typeof body?.name !== 'string') return reply.code(400).send({ message: 'Body invalid' });
    try {
      if (p.name === 'GLOBAL') await global.select(body.name);
      else await groups.select(p.name, body.name);
    } catch (err) {
      if (err instanceof NotSelectorError) return reply.code(400).send({ message: 'Must be a Selector' });
      return reply.code(400).send({ message: (err as Error).message });
    }
    return reply.code(204).send();
  });

  const parseDelay = (q: DelayQuery, reply: FastifyReply): { url: string; timeout: number } | undefined => {
    const timeout = Number(q.timeout);
    if (!q.url || !Number.isInteger(timeout) || timeout <= 0 || timeout > 32767) {
      void reply.code(400).send({ message: 'Body invalid' });
      return undefined;
    }
    return { url: q.url, timeout };
  };

  app.get<{ Params: { name: string }; Querystring: DelayQuery }>('/proxies/:name/delay', async (req, reply) => {
    const p = await find(req.params.name);
    if (!p) return notFound(reply);
    const q = parseDelay(req.query, reply);
    if (!q) return reply;
    const name = p.name === 'GLOBAL' ? await global.now() : p.name;
    try {
      return { delay: await groups.delay(name, q.url, q.timeout) };
    } catch (err) {
      if (err instanceof DelayTimeoutError) return reply.code(504).send({ message: 'Timeout' });
      return reply.code(503).send({ message: 'An error occurred in the delay test' });
    }
  });

  app.get('/group', async () => ({ proxies: (await all()).filter((p) => p.all !== undefined).map(toClash) }));

  app.get<{ Params: { name: string } }>('/group/:name', async (req, reply) => {
    const p = await find(req.params.name);
    return p?.all !== undefined ? toClash(p) : notFound(reply);
  });

  app.get<{ Params: { name: string }; Querystring: DelayQuery }>('/group/:name/delay', async (req, reply) => {
    const p = await find(req.params.name);
    if (p?.all === undefined) return notFound(reply);
    const q = parseDelay(req.query, reply);
    if (!q) return reply;
    try {
      const own = await groups.groupDelay(p.name, q.url, q.timeout);
      if (own) return own;
    } catch {
      return reply.code(503).send({ message: 'An error occurred in the delay test' });
    }
    // GLOBAL is no group of the runtime: its members are tested one by one.
    const results = await Promise.all(p.all.map((m) => groups.delay(m, q.url, q.timeout).then((d) => [m, d] as const, () => undefined)));
    // As mihomo: the members that answered, each with its delay.
    return Object.fromEntries(results.filter((r): r is readonly [string, number] => r !== undefined));
  });
}
