/** WWW-Authenticate, Authorization and the Digest response (RFC 2617, RFC 7616). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  digestAuthorization,
  digestResponse,
  formatAuthorization,
  parseWwwAuthenticate,
} from '../../../../src/protocol/rtsp/index.js';

describe('WWW-Authenticate', () => {
  it('reads GStreamer and camera challenges', () => {
    assert.deepEqual(parseWwwAuthenticate('Basic realm="GStreamer RTSP Server"'), {
      scheme: 'Basic',
      params: { realm: 'GStreamer RTSP Server' },
    });
    assert.deepEqual(
      parseWwwAuthenticate(
        'Digest realm="IP Camera(10789)", nonce="a1b2, c3\\"d4", stale=FALSE, algorithm=MD5,qop="auth,auth-int"',
      ),
      {
        scheme: 'Digest',
        params: {
          realm: 'IP Camera(10789)',
          nonce: 'a1b2, c3"d4',
          stale: 'FALSE',
          algorithm: 'MD5',
          qop: 'auth,auth-int',
        },
      },
    );
  });

  it('reads the first of several challenges', () => {
    assert.deepEqual(parseWwwAuthenticate('digest realm="r", nonce="n", Basic realm="r"'), {
      scheme: 'Digest',
      params: { realm: 'r', nonce: 'n' },
    });
  });

  it('refuses garbage', () => {
    for (const value of [
      '',
      'Bearer token',
      'Digest',
      'Digest realm="r"',
      'Digest realm="unterminated, nonce="n"',
      'Digest realm=, nonce=n',
      'Digest realm="r" junk nonce="n"',
      'Digest =x',
    ]) {
      assert.equal(parseWwwAuthenticate(value), undefined, value);
    }
  });

  it('round-trips Digest parameters through formatAuthorization', () => {
    const params = { username: 'Mufasa', realm: 'a "quoted" realm', nonce: 'n\\1', qop: 'auth' };
    const value = formatAuthorization({ scheme: 'Digest', params });
    assert.equal(
      value,
      'Digest username="Mufasa", realm="a \\"quoted\\" realm", nonce="n\\\\1", qop=auth',
    );
    assert.deepEqual(parseWwwAuthenticate(value)?.params, params);
  });
});

describe('Authorization', () => {
  it('formats Basic (RFC 7617 §2 example)', () => {
    assert.equal(
      formatAuthorization({ scheme: 'Basic', username: 'Aladdin', password: 'open sesame' }),
      'Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==',
    );
  });

  it('computes the RFC 2617 §3.5 Digest response', () => {
    const response = digestResponse({
      username: 'Mufasa',
      password: 'Circle Of Life',
      realm: 'testrealm@host.com',
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      method: 'GET',
      uri: '/dir/index.html',
      qop: 'auth',
      nc: '00000001',
      cnonce: '0a4f113b',
    });
    assert.equal(response, '6629fae49393a05397450978507c4ef1');
  });

  const rfc7616 = {
    username: 'Mufasa',
    password: 'Circle of Life',
    realm: 'http-auth@example.org',
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
    method: 'GET',
    uri: '/dir/index.html',
    qop: 'auth',
    nc: '00000001',
    cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  } as const;

  it('computes the RFC 7616 §3.9.1 SHA-256 and MD5 responses', () => {
    assert.equal(
      digestResponse({ ...rfc7616, algorithm: 'SHA-256' }),
      '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
    );
    assert.equal(
      digestResponse({ ...rfc7616, algorithm: 'MD5' }),
      '8ca523f5e9506fed4657c9700eebdbec',
    );
  });

  it('computes the RFC 2069 form without qop', () => {
    // MD5(HA1:nonce:HA2), computed independently with Python's hashlib.
    const response = digestResponse({
      username: 'Mufasa',
      password: 'Circle Of Life',
      realm: 'testrealm@host.com',
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      method: 'GET',
      uri: '/dir/index.html',
    });
    assert.equal(response, '670fd8c2df070c60b045671b8b24ff02');
  });

  it('answers a challenge', () => {
    const challenge = parseWwwAuthenticate(
      'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    );
    assert.ok(challenge);
    const value = digestAuthorization(
      challenge,
      { username: 'Mufasa', password: 'Circle Of Life', method: 'GET', uri: '/dir/index.html' },
      { nc: '00000001', cnonce: '0a4f113b' },
    );
    assert.equal(
      value,
      'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", ' +
        'uri="/dir/index.html", response="6629fae49393a05397450978507c4ef1", ' +
        'opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=auth, nc=00000001, cnonce="0a4f113b"',
    );
    const basic = parseWwwAuthenticate('Basic realm="x"');
    assert.ok(basic);
    assert.equal(
      digestAuthorization(basic, { username: 'a', password: 'b', method: 'DESCRIBE', uri: '*' }),
      undefined,
    );
  });
});
