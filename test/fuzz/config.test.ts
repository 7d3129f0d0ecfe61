import { strict as assert } from 'node:assert';
import { isConfigError, parseConfig, validateOutbounds } from '@sluice/core';
import { configDocument } from './config-documents';
import { fuzzTimeoutMs, runFuzz } from './harness';

/*
 * The config loader on random documents (./config-documents.ts): YAML and
 * JSON text built from the real keys with values of every type, sometimes
 * mangled as text. Every outcome is a config or a ConfigError, never another
 * exception, and nothing is printed.
 */

/** A host for `validateOutbounds`' interface checks, so that no input reads /proc (the same every time). */
const HOST = { names: ['lo', 'eth0', 'eth1'], defaultRoute: ['eth0'] };

describe('fuzz: config loader', () => {
  it('an alias before its anchor is a ConfigError (found by this fuzzer: yaml threw a ReferenceError)', () => {
    assert.throws(
      () => parseConfig('{"timeouts": {"connect_ms": *a, "idle_ms": &a 5}}', { format: 'json', baseDir: '/' }),
      (err: unknown) => isConfigError(err) && /^JSON error: Unresolved alias/.test(err.message),
    );
  });

  it('parseConfig (and validateOutbounds on what it accepts) returns a config or throws a ConfigError, and prints nothing', async function () {
    this.timeout(fuzzTimeoutMs());
    let accepted = 0;
    // The loader must not write to the console (the yaml library warns there unless told not to).
    const printed: string[] = [];
    const onWarning = (w: Error): void => void printed.push(w.message);
    process.on('warning', onWarning);
    try {
      await runFuzz({
        name: 'config',
        generate: configDocument,
        check: ({ text, format }) => {
          try {
            const config = parseConfig(text, { format, baseDir: '/nonexistent' });
            accepted++;
            // Plugins named by a random document would be looked up on disk (and missing, a plugin error): not this target.
            if (config.plugins.length === 0) validateOutbounds(config, { host: HOST });
          } catch (err) {
            if (!isConfigError(err)) throw err;
            assert.ok(err.issues.length > 0, 'a ConfigError with no issues');
          }
        },
        show: ({ text, format }) => `${format}: ${JSON.stringify(text)}`,
      });
      // process.emitWarning emits on a later tick.
      await new Promise<void>((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    // The generator must reach past the syntax errors, or the validator is not being fuzzed.
    console.log(`      fuzz config: ${accepted} documents accepted by parseConfig, and passed on to validateOutbounds`);
    assert.ok(accepted > 0, 'no generated document was a valid config');
    assert.deepEqual(printed, [], 'the loader printed warnings');
  });
});
