import type { AddressInfo, Socket } from 'node:net';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ControlConfig } from '../config/control';
import type { ControlContext } from './context';
import { GlobalSelection } from './global-selection';
import type { GroupsView } from './groups-view';
import { installGuard } from './http-guard';
import type { LogSource } from './log-tap';
import { MetricsExporter } from './metrics';
import { registerClashRoutes } from './routes-clash';
import { registerConnectionRoutes } from './routes-connections';
import { registerProxyRoutes } from './routes-proxies';
import { registerStreamRoutes } from './routes-streams';
import { registerUi } from './ui-static';
import type { ControlTarget } from './target';
import { TrafficMeter } from './traffic-meter';

/** What a control server is built from. */
export interface ControlServerOptions {
  readonly config: ControlConfig;
  readonly target: ControlTarget;
  readonly groups: GroupsView;
  /** Lines for `GET /logs`; without it the stream stays silent. */
  readonly logs?: LogSource;
  readonly logger: Logger;
  /** Directory of the built-in dashboard, served at `/ui/` when `config.ui` is on. */
  readonly uiRoot?: string;
}


/**
 * The control server: the Clash-compatible REST and WebSocket API that
 * metacubexd, yacd and zashboard drive, `/metrics` for Prometheus, and the
 * built-in dashboard at `/ui/`. It only ever answers its own routes: it
 * relays nothing (see `installGuard`).
 */
export class ControlServer {
  private readonly app: FastifyInstance;
  private readonly ctx: ControlContext;
  private port = 0;
  /** Every connection, upgraded ones included (the HTTP server forgets those), so close() can end them all. */
  private readonly sockets = new Set<Socket>();

  constructor(private readonly opts: ControlServerOptions) {
    const app = Fastify({ logger: false, forceCloseConnections: true, return503OnClosing: false });
    this.app = app;
    const traffic = new TrafficMeter(() => opts.target.totals());
    const global = new GlobalSelection(opts.target, opts.groups);
    this.ctx = { target: opts.target, groups: opts.groups, global, traffic, logs: opts.logs, metrics: new MetricsExporter(opts.target, opts.groups) };
    installGuard(app, opts.config, () => this.port);
    // Dashboards send JSON with whatever type their HTTP library picks (metacubexd's ky sends text/plain),
    // and some send an empty body with a JSON type: read every body as JSON, an empty one as {}, as mihomo does.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 4 * 1024 * 1024 }, (_req, body, done) => {
      const text = String(body);
      if (text.trim() === '') return done(null, {});
      try {
        done(null, JSON.parse(text));
      } catch {
        done(Object.assign(new Error('Body invalid'), { statusCode: 400 }), undefined);
      }
    });
    void app.register(websocket, { options: { maxPayload: 64 * 1024 } });
    void app.register(async (scoped) => {
      registerClashRoutes(scoped, this.ctx);
      registerConnectionRoutes(scoped, this.ctx);
      registerProxyRoutes(scoped, this.ctx);
      registerStreamRoutes(scoped, this.ctx);
      scoped.get('/metrics', async (_req, reply) => {
        const text = await this.ctx.metrics.render();
        return reply.header('Content-Type', this.ctx.metrics.contentType).send(text);
      });
      if (opts.config.ui) registerUi(scoped, opts.uiRoot);
    });
    app.setNotFoundHandler((_req, reply) => reply.code(404).send({ message: 'Resource not found' }));
    app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
      const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      if (status === 500) opts.logger.error({ err }, 'control API request failed');
      return reply.code(status).send({ message: status === 500 ? 'Internal error' : 'Body invalid' });
    });
  }

  /** Listens on `control.listen`; resolves with the bound address. */
  async listen(): Promise<AddressInfo> {
    this.app.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    await this.app.listen({ host: this.opts.config.host, port: this.opts.config.port });
    const address = this.app.server.address() as AddressInfo;
    this.port = address.port;
    this.opts.logger.info({ listen: `${this.opts.config.host.includes(':') ? `[${address.address}]` : address.address}:${address.port}`, auth: this.opts.config.secret !== undefined, ui: this.opts.config.ui }, 'control API listening');
    return address;
  }

  /** Stops listening and ends every open stream. */
  async close(): Promise<void> {
    this.ctx.traffic.close();
    const closing = this.app.close();
    // Streams and WebSockets never end by themselves: cut them so close() cannot hang on a dashboard left open.
    for (const s of this.sockets) s.destroy();
    await closing;
  }
}
