import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { container } from 'tsyringe';
import { z } from 'zod';
import {
  ConfigError,
  SluiceError,
  coreVersion,
  defineOutbound,
  definePlugin,
  definitionsByType,
  isConfigError,
  isSluiceError,
  loadPlugin,
  parseOutboundOptions,
  registerPlugins,
} from '@sluice/core';
import { directOutbound } from '@sluice/plugin-direct';
import { socksOutbound } from '@sluice/plugin-socks';
import { FakeOutbound } from './fakes';

const PORT = 'must be 1-65535';
const tunnel = defineOutbound({
  type: 'tunnel',
  options: z
    .object({
      port: z.number({ invalid_type_error: PORT }).int(PORT).min(1, PORT).max(65535, PORT),
      hops: z.array(z.object({ host: z.string({ invalid_type_error: 'must be a string' }) }).strict()).default([]),
    })
    .strict(),
  create: (options, deps) => {
    // Typed from the schema (z.infer): these lines would not compile if `options` were `unknown`.
    const port: number = options.port;
    const hosts: string[] = options.hops.map((h) => h.host);
    return Object.assign(new FakeOutbound(deps.tag), { port, hosts });
  },
});

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(isConfigError(err), String(err));
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return assert.fail('no error');
}

/** A temp dir holding `files` (path → content); removed by the caller. */
function tempTree(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-plugins-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

const pluginModule = (fields: string): string => `module.exports.plugin = { ${fields} };\n`;

describe('defineOutbound / definePlugin', () => {
  it('reports schema errors at config key paths, one per unknown key, tag and type left to core', () => {
    const raw = { tag: 't', type: 'tunnel', port: 0, hops: [{ host: 1, x: 1 }], bogus: 1, also: 2 };
    assert.deepEqual(issuesOf(() => parseOutboundOptions(tunnel, raw, 'outbounds[2]')).sort(), [
      'outbounds[2].also: unknown key "also"',
      'outbounds[2].bogus: unknown key "bogus"',
      'outbounds[2].hops[0].host: must be a string',
      'outbounds[2].hops[0].x: unknown key "x"',
      'outbounds[2].port: must be 1-65535',
    ]);
  });

  it('hands create the parsed options, defaults filled', () => {
    const options = parseOutboundOptions(tunnel, { tag: 't', type: 'tunnel', port: 80 }, 'outbounds[0]');
    assert.deepEqual(options, { port: 80, hops: [] });
  });

  it('refuses a plugin without a sluice range, naming what to write', () => {
    const noRange = { name: 'sluice-plugin-x', outbounds: [tunnel] } as unknown as Parameters<typeof definePlugin>[0];
    assert.throws(() => definePlugin(noRange), /definePlugin: plugin "sluice-plugin-x" gives no "sluice" range: .* sluice: "\^0\.1\.0"/);
  });

  it('refuses a definition without a schema', () => {
    assert.throws(() => defineOutbound({ type: 'x', options: {} as never, create: () => new FakeOutbound('x') }), /defineOutbound: type "x": "options" must be a schema with safeParse\(\)/);
  });

  it('is what the built-in plugins are made of', () => {
    const c = container.createChildContainer();
    registerPlugins(c, [], process.cwd());
    assert.equal(definitionsByType(c).get('socks'), socksOutbound);
  });
});

describe('plugin loading', () => {
  let dir: string;
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses a plugin made for another core, naming both versions', () => {
    dir = tempTree({ 'future.js': pluginModule(`name: 'sluice-plugin-future', sluice: '^9.0.0', outbounds: []`) });
    assert.throws(
      () => loadPlugin('./future.js', dir),
      (err: unknown) =>
        isSluiceError(err) &&
        err.code === 'SLUICE_ERR_PLUGIN' &&
        err.message.startsWith(`plugin "sluice-plugin-future" needs @sluice/core ^9.0.0, but this is @sluice/core ${coreVersion()}`),
    );
  });

  it('refuses a plugin object without a sluice range at load, and an invalid range', () => {
    dir = tempTree({
      'norange.js': pluginModule(`name: 'sluice-plugin-norange', outbounds: []`),
      'badrange.js': pluginModule(`name: 'sluice-plugin-badrange', sluice: 'latest please', outbounds: []`),
    });
    assert.throws(() => loadPlugin('./norange.js', dir), /"\.\/norange\.js" is not a usable Sluice plugin: plugin "sluice-plugin-norange" gives no "sluice" range/);
    assert.throws(() => loadPlugin('./badrange.js', dir), /plugin "sluice-plugin-badrange" has an invalid "sluice" range "latest please"/);
  });

  it('points a register(container) plugin at definePlugin', () => {
    dir = tempTree({ 'old.js': `exports.plugin = { name: 'old', register() {} };\n` });
    assert.throws(() => loadPlugin('./old.js', dir), /uses the old register\(container\) API; write it with definePlugin\(\)/);
  });

  it('accepts a plugin object built by another copy of core (checked by shape)', () => {
    dir = tempTree({
      'node_modules/sluice-plugin-copy/index.js': pluginModule(
        `name: 'sluice-plugin-copy', sluice: '>=0.1.0', outbounds: [{ type: 'copy', options: { safeParse: (v) => ({ success: true, data: v }) }, create: () => ({}) }]`,
      ),
    });
    const c = container.createChildContainer();
    registerPlugins(c, ['sluice-plugin-copy'], dir);
    assert.ok(definitionsByType(c).has('copy'));
  });

  it('never lets a package next to the config or in the working directory shadow a built-in plugin', () => {
    const shadow = `globalThis.__sluiceShadowLoaded = true;\n${pluginModule(`name: '@sluice/plugin-direct', sluice: '*', outbounds: []`)}`;
    dir = tempTree({
      'node_modules/@sluice/plugin-direct/package.json': '{ "name": "@sluice/plugin-direct", "version": "9.9.9", "main": "index.js" }',
      'node_modules/@sluice/plugin-direct/index.js': shadow,
    });
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const c = container.createChildContainer();
      registerPlugins(c, ['@sluice/plugin-direct'], dir);
      assert.equal(definitionsByType(c).get('direct'), directOutbound);
    } finally {
      process.chdir(cwd);
    }
    assert.equal((globalThis as { __sluiceShadowLoaded?: boolean }).__sluiceShadowLoaded, undefined);
  });
});

describe('error brands', () => {
  it('isConfigError and isSluiceError recognise errors from a duplicate copy of core by their Symbol.for brand', () => {
    const foreign = Object.assign(new Error('x: bad'), { code: 'SLUICE_ERR_CONFIG', issues: [{ path: 'x', message: 'bad' }] });
    assert.equal(isConfigError(foreign), false);
    Object.defineProperty(foreign, Symbol.for('sluice.error'), { value: true });
    assert.equal(isSluiceError(foreign), true);
    assert.equal(isConfigError(foreign), false, 'a SluiceError is not a ConfigError without its own brand');
    Object.defineProperty(foreign, Symbol.for('sluice.error.config'), { value: true });
    assert.equal(isConfigError(foreign), true);
    assert.equal(isConfigError(new ConfigError([])), true);
    assert.equal(isConfigError(new SluiceError('SLUICE_ERR_PLUGIN', 'x')), false);
  });
});
