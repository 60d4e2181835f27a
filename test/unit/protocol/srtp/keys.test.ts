import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatInlineKey,
  generateKeyingMaterial,
  keyLengths,
  parseInlineKey,
  SrtpKeyError,
  srtpProfiles,
  type SrtpProfile,
} from '../../../../src/protocol/srtp/index.js';

function isKeyError(pattern: RegExp) {
  return (error: unknown): boolean =>
    error instanceof SrtpKeyError && error.code === 'ERR_SRTP_KEY' && pattern.test(error.message);
}

describe('SRTP keys', () => {
  it('knows each profile’s master key and salt lengths', () => {
    assert.deepEqual(
      srtpProfiles.map((profile) => [profile, keyLengths(profile)]),
      [
        ['AES_CM_128_HMAC_SHA1_80', { keyLength: 16, saltLength: 14 }],
        ['AES_CM_128_HMAC_SHA1_32', { keyLength: 16, saltLength: 14 }],
        ['AEAD_AES_128_GCM', { keyLength: 16, saltLength: 12 }],
        ['AEAD_AES_256_GCM', { keyLength: 32, saltLength: 12 }],
      ],
    );
    assert.throws(
      () => keyLengths('AES_256_CM' as SrtpProfile),
      isKeyError(/unknown SRTP profile/),
    );
  });

  it('generates random key material of the profile’s lengths', () => {
    for (const profile of srtpProfiles) {
      const a = generateKeyingMaterial(profile);
      const b = generateKeyingMaterial(profile);
      assert.equal(a.profile, profile);
      assert.equal(a.masterKey.length, keyLengths(profile).keyLength);
      assert.equal(a.masterSalt.length, keyLengths(profile).saltLength);
      assert.notDeepEqual(a.masterKey, b.masterKey);
    }
  });

  it('round-trips the SDES inline form for every profile', () => {
    for (const profile of srtpProfiles) {
      const keys = generateKeyingMaterial(profile);
      const inline = formatInlineKey(keys);
      assert.deepEqual(parseInlineKey(profile, inline), keys);
      assert.deepEqual(parseInlineKey(profile, `inline:${inline}`), keys);
    }
    // 28 bytes take one '=' of padding, 44 bytes none.
    assert.match(
      formatInlineKey(generateKeyingMaterial('AEAD_AES_128_GCM')),
      /^[^=]{38}==?$|^[^=]{39}=$/,
    );
    assert.equal(formatInlineKey(generateKeyingMaterial('AEAD_AES_256_GCM')).length, 60);
  });

  it('reads the RFC 4568 example key and ignores its lifetime', () => {
    const keys = parseInlineKey(
      'AES_CM_128_HMAC_SHA1_80',
      'WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20',
    );
    assert.equal(
      Buffer.concat([keys.masterKey, keys.masterSalt]).toString(),
      'YS___semctl () {\t220;}\n}\nunles',
    );
    assert.deepEqual(
      parseInlineKey('AES_CM_128_HMAC_SHA1_80', 'WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|1048576'),
      keys,
    );
  });

  it('refuses an MKI, bad base64, wrong lengths and malformed lifetimes, without quoting the key', () => {
    const profile = 'AES_CM_128_HMAC_SHA1_80';
    const key = 'WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz';
    const cases: readonly (readonly [string, RegExp])[] = [
      [`${key}|2^20|1:4`, /MKI/],
      [`${key}|1:4`, /MKI/],
      [`${key}|2^20|1:4|x`, /more than/],
      [`${key}|forever`, /lifetime/],
      [`${key}|`, /lifetime/],
      ['', /not base64/],
      ['WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz!', /not base64/],
      ['WVNfX19z ZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz', /not base64/],
      ['WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGV=', /canonical/],
      ['WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubA==', /needs 30 bytes .* has 28/],
      [formatInlineKey(generateKeyingMaterial('AEAD_AES_256_GCM')), /needs 30 bytes .* has 44/],
    ];
    for (const [inline, reason] of cases) {
      assert.throws(() => parseInlineKey(profile, inline), isKeyError(reason), inline);
      try {
        parseInlineKey(profile, inline);
      } catch (error) {
        assert.ok(error instanceof Error && !error.message.includes(key.slice(0, 8)));
      }
    }
  });

  it('refuses to format key material of the wrong length', () => {
    const keys = generateKeyingMaterial('AEAD_AES_128_GCM');
    assert.throws(
      () => formatInlineKey({ ...keys, masterSalt: Buffer.alloc(14) }),
      isKeyError(/12-byte master salt/),
    );
  });
});
