import { strict as assert } from 'node:assert';
import { createRootLogger } from '@sluice/core';

/** A root logger whose JSON lines land in `lines`. */
function capture(): { logger: ReturnType<typeof createRootLogger>; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const logger = createRootLogger({ level: 'info', destination: { write: (s: string) => void out.push(s) } });
  return { logger, lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('root logger: secrets are censored at any depth, with the config printer\'s list', () => {
  it('censors a password three levels down', () => {
    const { logger, lines } = capture();
    logger.info({ a: { b: { password: 'x' } } }, 'nested');
    assert.deepEqual(lines()[0]!.a, { b: { password: '[redacted]' } });
  });

  it("censors err.options.password and keeps the error's message and stack", () => {
    const { logger, lines } = capture();
    const err = Object.assign(new Error('boom'), { options: { server: '10.0.0.5', password: 'hunter2' } });
    logger.error({ err }, 'dial failed');
    const logged = lines()[0]!.err as Record<string, unknown>;
    assert.deepEqual(logged.options, { server: '10.0.0.5', password: '[redacted]' });
    assert.equal(logged.message, 'boom');
    assert.match(String(logged.stack), /^Error: boom/);
    assert.equal(err.options.password, 'hunter2', 'the logged object itself is not changed');
  });

  it('censors an error\'s cause, lists, the suffix forms, and child bindings', () => {
    const { logger, lines } = capture();
    const cause = Object.assign(new Error('inner'), { auth: 'Basic abc' });
    logger.warn({ err: new Error('outer', { cause }), hops: [{ user: 'u', admin_token: 't', port: 1 }] }, 'x');
    logger.child({ options: { client_secret: 's', server: 'x' } }).info('child');
    const [first, second] = lines();
    assert.match(String((first!.err as Record<string, unknown>).message), /outer/);
    assert.deepEqual(first!.hops, [{ user: '[redacted]', admin_token: '[redacted]', port: 1 }]);
    assert.deepEqual(second!.options, { client_secret: '[redacted]', server: 'x' });
    assert.doesNotMatch(JSON.stringify(lines()), /Basic abc|"t"|"s"|"u"/);
  });

  it('leaves a child made with redact: [] alone (the access-log line skips the walk)', () => {
    const { logger, lines } = capture();
    logger.child({}, { redact: [] }).info({ up: 1, note: { password: 'kept' } }, 'flow closed');
    assert.deepEqual(lines()[0]!.note, { password: 'kept' });
  });

  it('copes with cycles', () => {
    const { logger, lines } = capture();
    const a: Record<string, unknown> = { token: 't' };
    a.self = a;
    logger.info({ a: { b: a } }, 'cycle');
    assert.equal(lines().length, 1);
    assert.doesNotMatch(JSON.stringify(lines()), /"t"/);
  });
});
