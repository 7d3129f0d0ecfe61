import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ControlConfig } from '../config/control';
import { isLoopbackHost } from '../config/control';

const UNAUTHORIZED = { message: 'Unauthorized' };

/** Constant-time comparison: both sides hashed first, so neither their contents nor their lengths leak through timing. */
export function secretMatches(given: string, secret: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(secret).digest();
  return timingSafeEqual(a, b);
}

/** The `Host` values that name this server: the listen address, and `localhost` for a loopback listen. */
function ownHosts(config: ControlConfig, port: number): Set<string> {
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const hosts = new Set([`${host}:${port}`.toLowerCase()]);
  if (isLoopbackHost(config.host)) hosts.add(`localhost:${port}`);
  return hosts;
}

/**
 * Adds the hooks every request passes: the request target must be a path
 * (the server never relays, so an absolute-form `GET http://…` is refused),
 * CORS with its preflight and the private-network-access header, the `Host`
 * check when there is no secret, and the secret (`Authorization: Bearer`, or
 * `?token=` on WebSocket upgrades, which browsers cannot give headers).
 *
 * Without a secret no cross-origin request is allowed and a `Host` other than
 * the listen address is refused: a web page the admin happens to open (DNS
 * rebinding included) cannot drive the API.
 */
export function installGuard(app: FastifyInstance, config: ControlConfig, port: () => number): void {
  const secret = config.secret;
  const anyOrigin = config.cors_origins.includes('*');
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (!req.raw.url?.startsWith('/')) return reply.code(400).send({ message: 'the control API does not relay requests' });
    const origin = req.headers.origin;
    if (secret === undefined) {
      const own = ownHosts(config, port());
      if (!own.has(String(req.headers.host ?? '').toLowerCase())) return reply.code(403).send({ message: 'Host not allowed: without control.secret only the listen address is accepted' });
      if (origin !== undefined && !own.has(origin.replace(/^https?:\/\//, '').toLowerCase())) {
        return reply.code(403).send({ message: 'cross-origin requests need control.secret' });
      }
    } else if (origin !== undefined && (anyOrigin || config.cors_origins.includes(origin))) {
      void reply.header('Access-Control-Allow-Origin', anyOrigin ? '*' : origin);
      if (!anyOrigin) void reply.header('Vary', 'Origin');
      if (req.method === 'OPTIONS') {
        void reply
          .header('Access-Control-Allow-Methods', 'GET, POST, PUT, PATCH, DELETE')
          .header('Access-Control-Allow-Headers', 'Content-Type, Authorization')
          .header('Access-Control-Max-Age', '300');
        if (req.headers['access-control-request-private-network'] === 'true') void reply.header('Access-Control-Allow-Private-Network', 'true');
        return reply.code(204).send();
      }
    }
    if (req.method === 'OPTIONS') return reply.code(204).send();
    if (secret === undefined) return;
    const path = req.url.split('?')[0]!;
    // The dashboard's page itself: a browser navigating there cannot send the secret; the page asks for it.
    if ((req.method === 'GET' || req.method === 'HEAD') && (path === '/ui' || path.startsWith('/ui/'))) return;
    if (config.metrics_without_auth && req.method === 'GET' && path === '/metrics') return;
    if (isUpgrade(req)) {
      const token = new URL(req.url, 'http://x').searchParams.get('token');
      if (token !== null && token !== '') {
        if (!secretMatches(token, secret)) return reply.code(401).send(UNAUTHORIZED);
        return;
      }
    }
    const auth = req.headers.authorization ?? '';
    const space = auth.indexOf(' ');
    // Everything after the first space is the secret, spaces included (as mihomo reads it).
    if (space < 0 || auth.slice(0, space) !== 'Bearer' || !secretMatches(auth.slice(space + 1), secret)) return reply.code(401).send(UNAUTHORIZED);
  });
}

function isUpgrade(req: FastifyRequest): boolean {
  return String(req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}
