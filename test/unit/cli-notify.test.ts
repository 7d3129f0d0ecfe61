import { strict as assert } from 'node:assert';
import { Writable } from 'node:stream';
import { createRootLogger } from '@sluice/core';
import { createServiceNotifier, type NotifyCommand } from '@sluice/core/cli';

/** A root logger whose JSON lines land in `lines`. */
function capturingLogger(): { logger: ReturnType<typeof createRootLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createRootLogger({ level: 'info', destination }), lines };
}

describe('cli: systemd readiness notification', () => {
  it('sends nothing when NOTIFY_SOCKET is not set', async () => {
    const calls: string[][] = [];
    const n = createServiceNotifier({ logger: capturingLogger().logger, env: {}, command: async (args) => void calls.push([...args]) });
    await n.notify({ READY: '1' });
    assert.deepEqual(calls, []);
  });

  it('runs systemd-notify with the assignments and NOTIFY_SOCKET, one message after the other, newlines flattened', async () => {
    const calls: { args: string[]; socket: string | undefined }[] = [];
    let release!: () => void;
    const first = new Promise<void>((r) => (release = r));
    const command: NotifyCommand = async (args, env) => {
      calls.push({ args: [...args], socket: env.NOTIFY_SOCKET });
      if (calls.length === 1) await first;
    };
    const n = createServiceNotifier({ logger: capturingLogger().logger, env: { NOTIFY_SOCKET: '@sluice-test' }, command });
    const a = n.notify({ RELOADING: '1' });
    const b = n.notify({ READY: '1', STATUS: 'reload failed:\nbad rule' });
    // The second message waits for the first: a READY=1 must not overtake its RELOADING=1.
    await new Promise((r) => setImmediate(r));
    assert.equal(calls.length, 1);
    release();
    await Promise.all([a, b]);
    assert.deepEqual(calls, [
      { args: ['RELOADING=1'], socket: '@sluice-test' },
      { args: ['READY=1', 'STATUS=reload failed: bad rule'], socket: '@sluice-test' },
    ]);
  });

  it('removes NOTIFY_SOCKET from process.env so worker processes do not speak for the service', async () => {
    const saved = process.env.NOTIFY_SOCKET;
    process.env.NOTIFY_SOCKET = '/run/test/notify';
    try {
      const sockets: (string | undefined)[] = [];
      const n = createServiceNotifier({ logger: capturingLogger().logger, command: async (_a, env) => void sockets.push(env.NOTIFY_SOCKET) });
      assert.equal(process.env.NOTIFY_SOCKET, undefined);
      await n.notify({ READY: '1' });
      assert.deepEqual(sockets, ['/run/test/notify']);
    } finally {
      if (saved === undefined) delete process.env.NOTIFY_SOCKET;
      else process.env.NOTIFY_SOCKET = saved;
    }
  });

  it('a failing systemd-notify is a warning, logged once, and later messages are still sent', async () => {
    const { logger, lines } = capturingLogger();
    let calls = 0;
    const n = createServiceNotifier({
      logger,
      env: { NOTIFY_SOCKET: '/nonexistent' },
      command: async () => {
        calls++;
        throw new Error('systemd-notify: Failed to notify init system: No such file or directory');
      },
    });
    await n.notify({ READY: '1' });
    await n.notify({ STOPPING: '1' });
    await new Promise<void>((r) => logger.flush(() => r()));
    assert.equal(calls, 2);
    const warnings = lines.filter((l) => l.level === 'warn');
    assert.equal(warnings.length, 1);
    assert.match(String(warnings[0]!.msg), /cannot notify the service manager/);
  });
});
