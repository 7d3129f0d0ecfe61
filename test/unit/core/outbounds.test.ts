import { strict as assert } from 'node:assert';
import { container } from 'tsyringe';
import pino from 'pino';
import {
  LOGGER_FACTORY,
  ROUTER,
  blockOutbound,
  createOutbounds,
  defineOutbound,
  definitionsByType,
  isConfigError,
  planOutbounds,
  registerCoreServices,
  registerPlugins,
  serviceToken,
  type FlowRouter,
  type OptionsSchema,
  type OutboundDefinition,
} from '@sluice/core';
import { FakeOutbound } from './fakes';

/** A schema without zod: any object with `safeParse` fits. */
const viaOptions: OptionsSchema<{ via?: string }> = {
  safeParse: (input) => ({ success: true, data: input as { via?: string } }),
};

const chain = defineOutbound({
  type: 'chain',
  options: viaOptions,
  dependencies: (o) => (o.via ? [o.via] : []),
  create: (o, deps) => {
    const f = new FakeOutbound(deps.tag);
    if (o.via) (f as FakeOutbound & { via?: unknown }).via = deps.resolve(o.via);
    return f;
  },
});

const entry = (tag: string, type: string, extra: Record<string, unknown> = {}, i = 0) => ({ tag, type, raw: { tag, type, ...extra }, path: `outbounds[${i}]` });
const types = (...defs: OutboundDefinition<any>[]) => new Map(defs.map((d) => [d.type, d as OutboundDefinition])); // eslint-disable-line @typescript-eslint/no-explicit-any
const silent = pino({ level: 'silent' });

describe('outbound registry', () => {
  it('creates outbounds after their via, whatever the config order', () => {
    const plan = planOutbounds([entry('c', 'chain', { via: 'b' }, 0), entry('b', 'chain', { via: 'a' }, 1), entry('a', 'chain', {}, 2)], types(chain));
    assert.deepEqual(plan.map((p) => p.entry.tag), ['a', 'b', 'c']);
    const made = createOutbounds(plan, container, silent);
    assert.equal((made.get('c') as FakeOutbound & { via: FakeOutbound }).via.tag, 'b');
  });

  it('reports a cycle in via with the whole cycle', () => {
    assert.throws(
      () => planOutbounds([entry('a', 'chain', { via: 'b' }, 0), entry('b', 'chain', { via: 'a' }, 1)], types(chain)),
      (err: unknown) => isConfigError(err) && /cycle in via: a -> b -> a/.test(err.message) && err.issues[0].path === 'outbounds[0].via',
    );
  });

  it('refuses a via that names the outbound itself, for any type', () => {
    assert.throws(
      () => planOutbounds([entry('a', 'chain', { via: 'a' }, 3)], types(chain)),
      (err: unknown) => isConfigError(err) && err.message === 'outbounds[3].via: must name another outbound, not itself',
    );
  });

  it('reports unknown types, unknown via and bad options together', () => {
    assert.throws(
      () => planOutbounds([entry('a', 'nope', {}, 0), entry('b', 'chain', { via: 'zzz' }, 1), entry('c', 'block', { mark: 1 }, 2)], types(chain, blockOutbound)),
      (err: unknown) => {
        assert.ok(isConfigError(err));
        assert.deepEqual(err.issues.map((i) => i.path).sort(), ['outbounds[0].type', 'outbounds[1].via', 'outbounds[2].mark']);
        assert.match(err.message, /unknown outbound type "nope" \(known: block, chain\)/);
        assert.match(err.message, /unknown outbound "zzz"/);
        assert.match(err.message, /outbounds\[2\]\.mark: unknown key "mark" for type block/);
        return true;
      },
    );
  });

  it('collects a ConfigError made by another copy of core (brand, not instanceof)', () => {
    const foreign = Object.assign(new Error('outbounds[0].x: bad'), { code: 'SLUICE_ERR_CONFIG', issues: [{ path: 'outbounds[0].x', message: 'bad' }] });
    Object.defineProperty(foreign, Symbol.for('sluice.error'), { value: true });
    Object.defineProperty(foreign, Symbol.for('sluice.error.config'), { value: true });
    const throwing = defineOutbound({
      type: 'foreign',
      options: {
        safeParse: (): never => {
          throw foreign;
        },
      } as OptionsSchema<unknown>,
      create: () => new FakeOutbound('x'),
    });
    assert.throws(
      () => planOutbounds([entry('f', 'foreign', {}, 0), entry('b', 'nope', {}, 1)], types(throwing)),
      (err: unknown) => isConfigError(err) && err.issues.length === 2 && err.issues[0].path === 'outbounds[0].x' && err.issues[0].message === 'bad',
    );
  });

  it('names both plugins when two define one type', () => {
    const c = container.createChildContainer();
    registerPlugins(c, [], process.cwd());
    registerPlugins(c, [], process.cwd());
    assert.throws(() => definitionsByType(c), /outbound type "block" is registered twice \(by "@sluice\/core" and "@sluice\/core"\)/);
  });

  it('loads the built-in plugins by package name, and refuses a missing plugin clearly', () => {
    const c = container.createChildContainer();
    const loaded = registerPlugins(c, [], process.cwd());
    assert.deepEqual(loaded.map((p) => p.name), ['@sluice/plugin-direct', '@sluice/plugin-socks']);
    assert.deepEqual([...definitionsByType(c).keys()].sort(), ['block', 'direct', 'fallback', 'load-balance', 'selector', 'socks', 'url-test']);
    assert.throws(() => registerPlugins(container.createChildContainer(), ['sluice-plugin-that-does-not-exist'], process.cwd()), /plugin "sluice-plugin-that-does-not-exist" not found/);
  });
});

describe('core services for plugins', () => {
  const router: FlowRouter = { route: () => ({ rule: 'final', outbound: 'x' }) };
  const NOPE = serviceToken<number>('Nope');
  let seen: { router?: FlowRouter; component?: unknown; nope?: unknown } = {};
  const advanced = defineOutbound({
    type: 'advanced',
    options: viaOptions,
    create: (_o, deps) => {
      seen.router = deps.service(ROUTER);
      const child = deps.service(LOGGER_FACTORY)('plugin/advanced');
      seen.component = (child.bindings() as { component?: unknown }).component;
      try {
        deps.service(NOPE);
      } catch (err) {
        seen.nope = err;
      }
      return new FakeOutbound(deps.tag);
    },
  });

  beforeEach(() => (seen = {}));

  it('are symbols shared by every copy of core', () => {
    assert.equal(ROUTER, Symbol.for('sluice.Router'));
    assert.equal(LOGGER_FACTORY, Symbol.for('sluice.LoggerFactory'));
  });

  it('resolve through OutboundDeps.service, and an unknown token fails clearly', () => {
    const c = container.createChildContainer();
    registerCoreServices(c, { logger: silent, router });
    createOutbounds(planOutbounds([entry('adv', 'advanced')], types(advanced)), c, silent);
    assert.equal(seen.router, router);
    assert.equal(seen.component, 'plugin/advanced');
    assert.match(String(seen.nope), /outbound "adv" asked for service sluice\.Nope, which this Sluice does not provide/);
    assert.equal((seen.nope as { code?: string }).code, 'SLUICE_ERR_PLUGIN');
  });
});
