/**
 * Which SPIFFE IDs may register as signaling nodes (review finding 2): by
 * default the signaling identity and every signaling.instances service
 * account, in the signaling namespace and the trust domain; the configured
 * list instead when there is one. A role fits an identity only one way.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultConfig, validateConfig } from '../../../src/config/index.js';
import { roleFitsIdentity, signalingIdentities } from '../../../src/control-plane/node-roles.js';

const TD = 'mesh.test';
const id = (namespace: string, serviceAccount: string): string =>
  `spiffe://${TD}/ns/${namespace}/sa/${serviceAccount}`;

describe('signalingIdentities', () => {
  it('defaults to signaling.identity and every instance’s own service account', () => {
    assert.deepEqual(
      [...signalingIdentities(defaultConfig({}), TD)],
      [id('default', 'streammesh-signaling')],
    );
    const config = validateConfig(
      {
        signaling: {
          identity: { namespace: 'media' },
          instances: [
            { id: 'sfu-a', host: '127.0.0.21', serviceAccount: 'sfu-a' },
            { id: 'sfu-b', host: '127.0.0.22' },
          ],
        },
      },
      'test',
    );
    assert.deepEqual([...signalingIdentities(config, TD)].sort(), [
      id('media', 'sfu-a'),
      id('media', 'streammesh-signaling'),
    ]);
  });

  it('is the configured list when there is one', () => {
    const listed = [id('x', 'sfu'), 'spiffe://other.example/ns/y/sa/sfu'];
    const config = validateConfig({ controlPlane: { signalingIdentities: listed } }, 'test');
    assert.deepEqual([...signalingIdentities(config, TD)], listed);
    assert.throws(() =>
      validateConfig({ controlPlane: { signalingIdentities: ['not a spiffe id'] } }, 'test'),
    );
  });

  it('fits a signaling role only to a signaling identity, and every other role only to another', () => {
    const signaling = new Set([id('default', 'streammesh-signaling')]);
    const sfu = id('default', 'streammesh-signaling');
    const proxy = id('default', 'streammesh-proxy');
    assert.equal(roleFitsIdentity('ROLE_SIGNALING', sfu, signaling), true);
    assert.equal(roleFitsIdentity('ROLE_SIGNALING', proxy, signaling), false);
    assert.equal(roleFitsIdentity('ROLE_PROXY', proxy, signaling), true);
    assert.equal(roleFitsIdentity('ROLE_PROXY', sfu, signaling), false);
  });
});
