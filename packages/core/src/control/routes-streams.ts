import type { FastifyInstance, FastifyReply } from 'fastify';
import type { WebSocket } from 'ws';
import { CLASH_LEVELS, toClashLine } from './log-tap';
import type { ControlContext } from './context';

/** Sends each value as one line of JSON, until the client goes away; returns the unsubscribe. */
type Source = (send: (value: unknown) => void) => () => void;

/**
 * Bytes a client may leave unread before values meant for it are dropped:
 * a dashboard that stops reading `/logs` must not grow this process's memory.
 */
export const STREAM_BACKLOG_BYTES = 1024 * 1024;

/** Serves `source` over WebSocket (one message per value) or as chunked HTTP (one JSON line per value). */
function streamRoute(app: FastifyInstance, url: string, sourceFor: (query: Record<string, string>) => Source | string): void {
  app.route({
    method: 'GET',
    url,
    handler: (req, reply: FastifyReply) => {
      const source = sourceFor(req.query as Record<string, string>);
      if (typeof source === 'string') return reply.code(400).send({ message: source });
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache', ...(reply.getHeaders() as Record<string, string>) });
      // The headers now, not with the first value: a quiet /logs would otherwise leave the client waiting for an answer.
      res.flushHeaders();
      const stop = source((v) => {
        if (res.writableLength <= STREAM_BACKLOG_BYTES) res.write(`${JSON.stringify(v)}\n`);
      });
      res.on('close', stop);
    },
    wsHandler: (socket: WebSocket, req) => {
      const source = sourceFor(req.query as Record<string, string>);
      if (typeof source === 'string') {
        socket.close(1008, source);
        return;
      }
      const stop = source((v) => {
        if (socket.readyState === socket.OPEN && socket.bufferedAmount <= STREAM_BACKLOG_BYTES) socket.send(JSON.stringify(v));
      });
      socket.on('close', stop);
      socket.on('error', stop);
    },
  });
}

/** `/traffic` and `/memory` (every second), `/logs?level=` (as lines are written). */
export function registerStreamRoutes(app: FastifyInstance, ctx: ControlContext): void {
  streamRoute(app, '/traffic', () => (send) => ctx.traffic.subscribe(send));

  streamRoute(app, '/memory', () => (send) => {
    // The whole Sluice: with a worker pool, every worker's memory and the pool's.
    const tick = (): void => void ctx.target.memory().then((inuse) => send({ inuse, oslimit: 0 }), () => undefined);
    tick();
    const timer = setInterval(tick, 1000);
    return () => clearInterval(timer);
  });

  streamRoute(app, '/logs', (q) => {
    const name = (q.level ?? 'info').toLowerCase();
    const min = CLASH_LEVELS[name === 'warn' ? 'warning' : name];
    if (min === undefined) return 'level: must be one of debug, info, warning, error, silent';
    return (send) => {
      const logs = ctx.logs;
      if (!logs) return () => undefined;
      return logs.subscribe((json) => {
        const parsed = toClashLine(json);
        if (parsed && parsed.level >= min) send(parsed.line);
      }, min);
    };
  });
}
