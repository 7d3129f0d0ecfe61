import { strict as assert } from 'node:assert';
import { describeError, isSluiceError, upstreamRefusal } from '@sluice/core';

/** A system error as Node reports it from a socket. */
function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`recvmsg ${code}`), { code, errno: -1, syscall: 'recvmsg' });
}

describe('upstreamRefusal', () => {
  for (const [code, words] of [
    ['ECONNREFUSED', 'port unreachable'],
    ['EHOSTUNREACH', 'host unreachable'],
    ['ENETUNREACH', 'network unreachable'],
  ] as const) {
    it(`${code}: a SLUICE_ERR_UPSTREAM error whose message is the native path's close reason`, () => {
      const cause = errno(code);
      const refusal = upstreamRefusal(cause);
      assert.ok(refusal && isSluiceError(refusal));
      assert.equal(refusal.code, 'SLUICE_ERR_UPSTREAM');
      assert.equal(describeError(refusal), `upstream: ${code} (${words})`);
      assert.equal(refusal.cause, cause);
    });
  }

  it('anything else is not a refusal: errors that cost one datagram, names that are not errnos, non-errors', () => {
    for (const err of [errno('EMSGSIZE'), errno('ENOBUFS'), errno('constructor'), errno('toString'), new Error('ECONNREFUSED'), 'ECONNREFUSED', undefined]) {
      assert.equal(upstreamRefusal(err), undefined, String(err));
    }
  });
});
