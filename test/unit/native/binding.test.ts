import * as assert from 'node:assert/strict';
import { checkBinding, EXPECTED_EXPORTS, missingExports, native } from '@sluice/native';

describe('native: the loaded binding is checked against its expected exports', () => {
  it('the built addon has every expected export', () => {
    assert.deepEqual(missingExports(native()), []);
  });

  it('a stale build fails with a message naming what it lacks and how to rebuild', () => {
    const full = native() as unknown as Record<string, unknown>;
    const stale: Record<string, unknown> = { ...full, TcpAcceptor: undefined, splicePoolTrim: 'not a function' };
    delete stale.TcpDial;
    assert.deepEqual(missingExports(stale), ['splicePoolTrim', 'TcpDial', 'TcpAcceptor']);
    assert.throws(() => checkBinding(stale), {
      message: 'the @sluice/native build is stale: it lacks splicePoolTrim, TcpDial, TcpAcceptor; rebuild it with `npm rebuild @sluice/native`',
    });
  });

  it('something that is not a module lacks everything', () => {
    assert.deepEqual(missingExports(undefined), Object.keys(EXPECTED_EXPORTS));
    assert.throws(() => checkBinding(null), /lacks openTransparentListener, createSocket/);
  });
});
