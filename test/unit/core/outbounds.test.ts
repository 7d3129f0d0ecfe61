import { strict as assert } from 'node:assert';
import { container } from 'tsyringe';
import pino from 'pino';
import { ConfigError, OUTBOUND_FACTORY, blockFactory, registerPlugins, type OutboundFactory } from '@sluice/core';
import { createOutbounds, factoriesByType, planOutbounds } from '@sluice/core/dist/outbound/registry';
import { FakeOutbound } from './fakes';

const chainFactory: OutboundFactory<{ tag: string; via?: string }> = {
  type: 'chain',
  parse: (raw) => ({ tag: String(raw.tag), via: raw.via as string | undefined }),
  dependencies: (o) => (o.via ? [o.via] : []),
  create: (o, deps) => {
    const f = new FakeOutbound(o.tag);
    if (o.via) (f as FakeOutbound & { via?: unknown }).via = deps.resolve(o.via);
    return f;
  },
};

const entry = (tag: string, type: string, extra: Record<string, unknown> = {}, i = 0) => ({ tag, type, raw: { tag, type, ...extra }, path: `outbounds[${i}]` });

describe('outbound registry', () => {
  it('creates outbounds after their via, whatever the config order', () => {
    const factories = new Map<string, OutboundFactory>([['chain', chainFactory as OutboundFactory]]);
    const plan = planOutbounds([entry('c', 'chain', { via: 'b' }, 0), entry('b', 'chain', { via: 'a' }, 1), entry('a', 'chain', {}, 2)], factories);
    assert.deepEqual(plan.map((p) => p.entry.tag), ['a', 'b', 'c']);
    const made = createOutbounds(plan, container, pino({ level: 'silent' }));
    assert.equal(((made.get('c') as FakeOutbound & { via: FakeOutbound }).via).tag, 'b');
  });

  it('reports a cycle in via with the whole cycle', () => {
    const factories = new Map<string, OutboundFactory>([['chain', chainFactory as OutboundFactory]]);
    assert.throws(
      () => planOutbounds([entry('a', 'chain', { via: 'b' }, 0), entry('b', 'chain', { via: 'a' }, 1)], factories),
      (err: unknown) => err instanceof ConfigError && /cycle in via: a -> b -> a/.test(err.message) && err.issues[0].path === 'outbounds[0].via',
    );
  });

  it('reports unknown types, unknown via and bad options together', () => {
    const factories = new Map<string, OutboundFactory>([['chain', chainFactory as OutboundFactory], ['block', blockFactory as OutboundFactory]]);
    assert.throws(
      () => planOutbounds([entry('a', 'nope', {}, 0), entry('b', 'chain', { via: 'zzz' }, 1), entry('c', 'block', { mark: 1 }, 2)], factories),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.issues.map((i) => i.path).sort(), ['outbounds[0].type', 'outbounds[1].via', 'outbounds[2].mark']);
        assert.match(err.message, /unknown outbound type "nope"/);
        assert.match(err.message, /unknown outbound "zzz"/);
        return true;
      },
    );
  });

  it('loads the built-in plugins by package name, and refuses a missing plugin clearly', () => {
    const c = container.createChildContainer();
    registerPlugins(c, [], process.cwd());
    const types = [...factoriesByType(c).keys()].sort();
    assert.ok(types.includes('block') && types.includes('direct') && types.includes('socks'), types.join(','));
    assert.ok(c.resolveAll(OUTBOUND_FACTORY).length >= 3);
    assert.throws(() => registerPlugins(container.createChildContainer(), ['sluice-plugin-that-does-not-exist'], process.cwd()), /plugin "sluice-plugin-that-does-not-exist" not found/);
  });
});
