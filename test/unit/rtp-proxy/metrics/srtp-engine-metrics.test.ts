/**
 * The proxy's SRTP engine at start: proxy.srtpEngine sets this thread's
 * engine and streammesh_proxy_srtp_engine{engine,crypto} says which one runs,
 * and whose primitives: OpenSSL's for libsrtp (native/srtp/openssl_crypto.c).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { startSrtpEngine } from '../../../../rtp-proxy/media/metrics/index.js';
import {
  createSrtpSession,
  generateKeyingMaterial,
  useSrtpEngine,
} from '../../../../src/protocol/srtp/index.js';
import { createLogger } from '../../../../src/shared/log.js';

const log = createLogger('proxy', 'silent', false);

async function gauge(registry: Registry): Promise<string> {
  return (await registry.metrics())
    .split('\n')
    .filter((line) => line.startsWith('streammesh_proxy_srtp_engine{'))
    .join('\n');
}

describe('startSrtpEngine', () => {
  afterEach(() => {
    useSrtpEngine('auto');
  });

  for (const [configured, engine, crypto] of [
    ['libsrtp', 'libsrtp', 'openssl'],
    ['node', 'node', 'node'],
    // The addon is built for the tests (test:all builds native/ with --strict).
    ['auto', 'libsrtp', 'openssl'],
  ] as const) {
    it(`srtpEngine ${configured}: sessions on ${engine}, and the gauge says ${engine} with ${crypto}'s primitives`, async () => {
      const registry = new Registry();
      assert.equal(startSrtpEngine(registry, configured, log), engine);
      assert.equal(createSrtpSession(generateKeyingMaterial('AEAD_AES_128_GCM')).engine, engine);
      assert.equal(
        await gauge(registry),
        `streammesh_proxy_srtp_engine{engine="${engine}",crypto="${crypto}"} 1`,
      );
    });
  }
});
