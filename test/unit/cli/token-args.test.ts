/**
 * `streammesh token`'s options: paths or rooms (never both, never neither),
 * the role, the lifetime in its spellings and bounds, the subject and
 * compact form, as the request POST /tokens receives.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommandUsageError } from '../../../src/cli/control-plane-admin.js';
import { tokenRequestOf } from '../../../src/cli/token.js';
import { DEFAULT_TOKEN_TTL_SEC, MAX_TOKEN_TTL_SEC } from '../../../src/shared/edge-token/index.js';

describe('streammesh token options', () => {
  it('makes a viewer token of the default lifetime for the paths given', () => {
    assert.deepEqual(tokenRequestOf({ path: ['cam1', 'cam2'] }), {
      role: 'viewer',
      ttlSec: DEFAULT_TOKEN_TTL_SEC,
      paths: ['cam1', 'cam2'],
    });
  });

  it('takes rooms, a role, a lifetime, a subject and the compact form', () => {
    assert.deepEqual(
      tokenRequestOf({
        room: ['r1'],
        role: 'publisher',
        ttl: '7d',
        sub: 'stage cam',
        compact: true,
      }),
      { role: 'publisher', ttlSec: 7 * 86_400, rooms: ['r1'], sub: 'stage cam', compact: true },
    );
    assert.equal(tokenRequestOf({ path: ['*'], ttl: '90' }).ttlSec, 90);
    assert.equal(tokenRequestOf({ path: ['*'], ttl: '30m' }).ttlSec, 1800);
  });

  it('refuses neither or both scopes, an unknown role, a lifetime out of bounds', () => {
    const refusals = [
      {},
      { path: ['a'], room: ['b'] },
      { path: ['a'], role: 'admin' },
      { path: ['a'], ttl: '0' },
      { path: ['a'], ttl: `${MAX_TOKEN_TTL_SEC + 1}` },
      { path: ['a'], ttl: '1w' },
    ];
    for (const options of refusals) {
      assert.throws(() => tokenRequestOf(options), CommandUsageError, JSON.stringify(options));
    }
    assert.equal(
      tokenRequestOf({ path: ['a'], ttl: `${MAX_TOKEN_TTL_SEC}` }).ttlSec,
      MAX_TOKEN_TTL_SEC,
    );
  });
});
