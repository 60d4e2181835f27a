/**
 * What GET /config shows without the token: every secret a config can hold
 * replaced, everything else as it is.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REDACTED, redactSecrets, validateConfig } from '../../../src/config/index.js';

const key = '+qGWn5e0pYU7bmQpkLWKJ/opymGo4ddDibUC4PvG';
const password = 'camera-password-1';
const rtspToken = 'a-viewer-token-0123456789';

const config = validateConfig(
  {
    proxy: {
      routes: [
        {
          name: 'bridge',
          listen: '127.0.0.1:5004',
          srtp: { profile: 'AES_CM_128_HMAC_SHA1_80', key },
          destinations: [
            { address: '127.0.0.1:5010', srtp: { profile: 'AES_CM_128_HMAC_SHA1_80', key } },
          ],
        },
        {
          name: 'generated',
          listen: '127.0.0.1:5006',
          srtp: { profile: 'AES_CM_128_HMAC_SHA1_80', key: 'generate' },
          destinations: [{ address: '127.0.0.1:5012' }],
        },
      ],
      rtsp: {
        auth: { users: [{ user: 'viewer', password }], tokens: [rtspToken] },
        paths: { door: { source: `rtsp://admin:${password}@192.0.2.7:554/stream1` } },
      },
    },
    signaling: { cameras: { rtsp: `rtsp://viewer:${password}@127.0.0.1:8554` } },
  },
  'test',
);

describe('redactSecrets', () => {
  const shown = redactSecrets(config);
  const text = JSON.stringify(shown);

  it('shows no key, password, token or URL credential', () => {
    for (const secret of [key, password, rtspToken]) assert.ok(!text.includes(secret), secret);
  });

  it('keeps the structure and every other value', () => {
    const [bridge, generated] = shown.proxy.routes;
    assert.equal(bridge?.srtp?.key, REDACTED);
    assert.equal(bridge.srtp.profile, 'AES_CM_128_HMAC_SHA1_80');
    assert.equal(bridge.destinations[0]?.srtp?.key, REDACTED);
    assert.equal(bridge.destinations[0].address, '127.0.0.1:5010');
    assert.equal(generated?.srtp?.key, 'generate');
    assert.deepEqual(shown.proxy.rtsp.auth?.users, [{ user: 'viewer', password: REDACTED }]);
    assert.deepEqual(shown.proxy.rtsp.auth.tokens, [REDACTED]);
    assert.equal(
      shown.proxy.rtsp.paths['door']?.source,
      `rtsp://${REDACTED}@192.0.2.7:554/stream1`,
    );
    assert.equal(shown.signaling.cameras.rtsp, `rtsp://${REDACTED}@127.0.0.1:8554`);
    assert.equal(shown.proxy.admin, config.proxy.admin);
  });

  it('leaves the config it was given as it was', () => {
    assert.equal(config.proxy.routes[0]?.srtp?.key, key);
  });
});
