/**
 * signaling.cascade.listen beyond loopback needs controlPlane.mtls (review
 * finding 12): without it a cascade link is taken on the dialer's word and
 * source address, so the listener stays where only this machine reaches it,
 * as an admin listener without a token does. The check runs again after
 * signaling.bindHost moves the listener.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText, validateConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/shared/errors.js';

const plaintext = (listen: string) => ({
  controlPlane: { mtls: false },
  signaling: { cascade: { listen } },
});

describe('signaling.cascade.listen', () => {
  it('refuses a non-loopback host without mutual TLS, naming the setting', () => {
    for (const listen of ['0.0.0.0:8444', '10.0.0.5:8444', '[::]:8444', 'sfu.example.com:8444']) {
      assert.throws(
        () => validateConfig(plaintext(listen), 'test'),
        (error: unknown) =>
          error instanceof ConfigError && /signaling\.cascade\.listen/.test(error.message),
        listen,
      );
    }
  });

  it('takes loopback without mutual TLS, and any host with it', () => {
    for (const listen of ['127.0.0.1:8444', '127.0.0.21:0', '[::1]:8444', 'localhost:8444']) {
      assert.equal(validateConfig(plaintext(listen), 'test').signaling.cascade.listen, listen);
    }
    const secure = validateConfig({ signaling: { cascade: { listen: '0.0.0.0:8444' } } }, 'test');
    assert.equal(secure.signaling.cascade.listen, '0.0.0.0:8444');
  });

  it('is checked again where signaling.bindHost moves it', () => {
    const text = JSON.stringify(plaintext('127.0.0.1:8444'));
    assert.equal(
      parseConfigText(text, 'test', { STREAMMESH_SIGNALING_BIND_HOST: '127.0.0.21' }).signaling
        .cascade.listen,
      '127.0.0.21:8444',
    );
    assert.throws(
      () => parseConfigText(text, 'test', { STREAMMESH_SIGNALING_BIND_HOST: '10.0.0.5' }),
      (error: unknown) =>
        error instanceof ConfigError && /signaling\.cascade\.listen/.test(error.message),
    );
  });
});
