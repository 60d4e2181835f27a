/**
 * SPIFFE IDs have one spelling: spiffeId() writes it from valid parts and
 * parseSpiffeId() accepts exactly what spiffeId() writes, so that a policy
 * naming an identity cannot be dodged with another spelling of it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSpiffeId, spiffeId, SpiffeIdError } from '../../../../src/shared/identity/index.js';

describe('spiffeId', () => {
  it('writes spiffe://<td>/ns/<ns>/sa/<sa> and parses back to the same parts', () => {
    for (const parts of [
      { trustDomain: 'streammesh.local', namespace: 'default', serviceAccount: 'users' },
      { trustDomain: 'a', namespace: 'n-1', serviceAccount: '0' },
      { trustDomain: 'prod.example.com', namespace: 'x'.repeat(63), serviceAccount: 'a-b-c' },
    ]) {
      const id = spiffeId(parts);
      assert.equal(
        id,
        `spiffe://${parts.trustDomain}/ns/${parts.namespace}/sa/${parts.serviceAccount}`,
      );
      assert.deepEqual(parseSpiffeId(id), parts);
    }
  });

  it('refuses parts that are not DNS names or labels', () => {
    const good = { trustDomain: 'streammesh.local', namespace: 'default', serviceAccount: 'users' };
    for (const bad of [
      { trustDomain: 'Streammesh.local' },
      { trustDomain: 'stream_mesh' },
      { trustDomain: '' },
      { trustDomain: '.local' },
      { trustDomain: 'local.' },
      { trustDomain: '-a.local' },
      { trustDomain: 'a..b' },
      { trustDomain: 'host:8080' },
      { trustDomain: `${'a'.repeat(63)}.`.repeat(4) + 'b' },
      { namespace: '' },
      { namespace: 'Default' },
      { namespace: 'a.b' },
      { namespace: 'a/b' },
      { namespace: '-a' },
      { namespace: 'x'.repeat(64) },
      { serviceAccount: 'users/../admin' },
      { serviceAccount: 'a%2Fb' },
      { serviceAccount: 'a-' },
    ]) {
      assert.throws(
        () => spiffeId({ ...good, ...bad }),
        (error: unknown) => error instanceof SpiffeIdError && error.code === 'ERR_SPIFFE_ID',
        JSON.stringify(bad),
      );
    }
  });
});

describe('parseSpiffeId', () => {
  it('refuses every other spelling and every other URI', () => {
    for (const uri of [
      '',
      'spiffe://streammesh.local',
      'spiffe://streammesh.local/',
      'spiffe://streammesh.local/ns/default',
      'spiffe://streammesh.local/ns/default/sa/users/',
      'spiffe://streammesh.local/ns/default/sa/users/extra',
      'spiffe://streammesh.local/ns/default/sa/users?x=1',
      'spiffe://streammesh.local/ns/default/sa/users#f',
      'spiffe://streammesh.local:443/ns/default/sa/users',
      'spiffe://user@streammesh.local/ns/default/sa/users',
      'SPIFFE://streammesh.local/ns/default/sa/users',
      'spiffe://StreamMesh.local/ns/default/sa/users',
      'spiffe://streammesh.local/ns/Default/sa/users',
      'spiffe://streammesh.local/ns/default/sa/us%65rs',
      'spiffe://streammesh.local//ns/default/sa/users',
      'spiffe://streammesh.local/sa/users/ns/default',
      'https://streammesh.local/ns/default/sa/users',
      ' spiffe://streammesh.local/ns/default/sa/users',
      'spiffe://streammesh.local/ns/default/sa/users\n',
      `spiffe://${`${'a'.repeat(63)}.`.repeat(4)}b/ns/default/sa/users`,
    ]) {
      assert.throws(
        () => parseSpiffeId(uri),
        (error: unknown) => error instanceof SpiffeIdError,
        JSON.stringify(uri),
      );
    }
  });
});
