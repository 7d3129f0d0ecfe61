import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { FastifyInstance } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.ico': 'image/x-icon',
};

/** Where the built-in dashboard is built to (`npm run build` of @sluice/core). */
export const DEFAULT_UI_ROOT = path.join(__dirname, '..', '..', 'ui-dist');

/**
 * Serves the files of `root` at `/ui/` (`index.html` for the directory). Only
 * files inside `root`: a path that normalizes outside it is not found.
 */
export function registerUi(app: FastifyInstance, root = DEFAULT_UI_ROOT): void {
  const base = path.resolve(root);
  app.get('/ui', async (_req, reply) => reply.redirect('/ui/', 308));
  app.get<{ Params: { '*': string } }>('/ui/*', async (req, reply) => {
    const rel = req.params['*'] === '' ? 'index.html' : req.params['*'];
    const file = path.resolve(base, rel);
    if (file !== base && !file.startsWith(base + path.sep)) return reply.code(404).send({ message: 'Resource not found' });
    try {
      const body = await readFile(file);
      return reply.header('Content-Type', TYPES[path.extname(file)] ?? 'application/octet-stream').header('Cache-Control', 'no-cache').send(body);
    } catch {
      const built = rel === 'index.html' ? ' (the built-in dashboard is not built in this installation)' : '';
      return reply.code(404).send({ message: `Resource not found${built}` });
    }
  });
}
