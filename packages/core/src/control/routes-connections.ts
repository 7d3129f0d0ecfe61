import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import type { ControlContext } from './context';

/** `GET /connections` (HTTP and WebSocket), `DELETE /connections[/:id]`. */
export function registerConnectionRoutes(app: FastifyInstance, ctx: ControlContext): void {
  const { target } = ctx;
  const snapshot = async (): Promise<string> => {
    const [connections, memory] = await Promise.all([target.connections(), target.memory()]);
    return JSON.stringify({ ...connections, memory });
  };

  app.route({
    method: 'GET',
    url: '/connections',
    handler: async (_req, reply) => reply.header('Content-Type', 'application/json; charset=utf-8').send(await snapshot()),
    wsHandler: (socket: WebSocket, req) => {
      const q = req.query as { interval?: string };
      const interval = Math.max(100, Math.min(Number(q.interval) || 1000, 60_000));
      let busy = false;
      const push = (): void => {
        if (busy || socket.readyState !== socket.OPEN) return;
        busy = true;
        snapshot()
          .then((s) => socket.send(s))
          .catch(() => socket.close(1011))
          .finally(() => (busy = false));
      };
      // The snapshot at once, then every `interval` ms.
      push();
      const timer = setInterval(push, interval);
      socket.on('close', () => clearInterval(timer));
      socket.on('error', () => clearInterval(timer));
    },
  });

  app.delete('/connections', async (_req, reply) => {
    await target.closeAllConnections();
    return reply.code(204).send();
  });

  app.delete<{ Params: { id: string } }>('/connections/:id', async (req, reply) => {
    // mihomo answers 204 for an id it does not know too: the connection is gone either way.
    await target.closeConnection(req.params.id);
    return reply.code(204).send();
  });
}
