/**
 * The libsrtp engine's primitives (native/srtp/openssl_crypto.c): libsrtp
 * runs AES-CM, AES-GCM and HMAC-SHA1 from node's OpenSSL, and with
 * STREAMMESH_PROXY_SRTP_CRYPTO=libsrtp keeps its own (NSS in Debian's
 * build). The choice is process-wide, so each runs in a child process of
 * its own; both must give the same SRTP and SRTCP bytes for every profile,
 * and each must unprotect the other's. (engines.test.ts holds the OpenSSL
 * side to node:crypto too, packet by packet.)
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';

const moduleUrl = new URL('../../../../src/protocol/srtp/index.js', import.meta.url).href;
const addonUrl = new URL('../../../../src/protocol/srtp/libsrtp-addon.js', import.meta.url).href;

/**
 * What a child prints: its crypto(), the plain packets it protects (the same
 * for every profile), and per profile its protected packets and its verdicts
 * on the others'.
 */
interface ChildReport {
  readonly crypto: string;
  readonly plain: string[];
  readonly protectedPackets: Record<string, string[]>;
  readonly unprotected: Record<string, string[]>;
}

/**
 * A child that protects 300 RTP packets (12 to 1,499 bytes) and 300 RTCP
 * packets per profile with fixed keys, and unprotects `others`, another
 * child's report given on its stdin, with a fresh receiving session: each
 * plain packet's hex, or the drop reason.
 */
function runChild(crypto: string | undefined, others?: ChildReport): ChildReport {
  const source = `
    const { createSrtpSession } = await import(${JSON.stringify(moduleUrl)});
    const { loadLibsrtpAddon } = await import(${JSON.stringify(addonUrl)});
    const { readFileSync } = await import('node:fs');
    const others = JSON.parse(readFileSync(0, 'utf8'));
    const report = { crypto: loadLibsrtpAddon().addon.crypto(), plain: [], protectedPackets: {}, unprotected: {} };
    const profiles = { AES_CM_128_HMAC_SHA1_80: [16, 14], AES_CM_128_HMAC_SHA1_32: [16, 14], AEAD_AES_128_GCM: [16, 12], AEAD_AES_256_GCM: [32, 12] };
    for (const [profile, [keyLength, saltLength]] of Object.entries(profiles)) {
      const keys = { profile, masterKey: Buffer.alloc(keyLength, 0x5a), masterSalt: Buffer.alloc(saltLength, 0xa5) };
      const sender = createSrtpSession(keys, {}, 'libsrtp');
      const out = [];
      for (let seq = 0; seq < 300; seq++) {
        const rtp = Buffer.alloc(12 + ((seq * 37) % 1488), seq & 0xff);
        rtp[0] = 0x80; rtp.writeUInt16BE(seq, 2); rtp.writeUInt32BE(seq * 160, 4); rtp.writeUInt32BE(7, 8);
        const rtcp = Buffer.alloc(8 + 4 * (seq % 64), seq & 0xff);
        rtcp[0] = 0x80; rtcp[1] = 200; rtcp.writeUInt16BE(rtcp.length / 4 - 1, 2); rtcp.writeUInt32BE(7, 4);
        if (profile === 'AES_CM_128_HMAC_SHA1_80') report.plain.push(rtp.toString('hex'), rtcp.toString('hex'));
        for (const result of [sender.protectRtp(rtp), sender.protectRtcp(rtcp)]) {
          out.push(result.ok ? Buffer.from(result.packet).toString('hex') : result.reason);
        }
      }
      report.protectedPackets[profile] = out;
      if (others !== null) {
        const receiver = createSrtpSession(keys, {}, 'libsrtp');
        report.unprotected[profile] = others.protectedPackets[profile].map((hex, i) => {
          const packet = Buffer.from(hex, 'hex');
          const result = i % 2 === 0 ? receiver.unprotectRtp(packet) : receiver.unprotectRtcp(packet);
          return result.ok ? Buffer.from(result.packet).toString('hex') : result.reason;
        });
      }
    }
    process.stdout.write(JSON.stringify(report));`;
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', source], {
    env: { ...process.env, STREAMMESH_PROXY_SRTP_CRYPTO: crypto },
    input: others === undefined ? 'null' : JSON.stringify(others),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(output) as ChildReport;
}

describe("libsrtp's primitives: OpenSSL's against its own", () => {
  it('the same SRTP and SRTCP bytes for every profile, and each unprotects the other', () => {
    const own = runChild('libsrtp');
    const openssl = runChild(undefined, own);
    const ownAgain = runChild('libsrtp', openssl);
    assert.equal(own.crypto, 'libsrtp (STREAMMESH_PROXY_SRTP_CRYPTO)');
    assert.equal(openssl.crypto, 'openssl');
    const profiles = Object.keys(own.protectedPackets);
    assert.deepEqual(profiles, [
      'AES_CM_128_HMAC_SHA1_80',
      'AES_CM_128_HMAC_SHA1_32',
      'AEAD_AES_128_GCM',
      'AEAD_AES_256_GCM',
    ]);
    assert.deepEqual(openssl.plain, own.plain);
    const plain = own.plain;
    assert.equal(plain.length, 600);
    for (const profile of profiles) {
      const ownPackets = own.protectedPackets[profile] ?? [];
      assert.equal(ownPackets.length, 600, profile);
      assert.ok(
        ownPackets.every((hex) => /^[0-9a-f]+$/.test(hex)),
        `${profile}: every packet protected`,
      );
      assert.deepEqual(openssl.protectedPackets[profile], ownPackets, profile);
      assert.deepEqual(openssl.unprotected[profile], plain, `${profile}: OpenSSL unprotects NSS's`);
      assert.deepEqual(
        ownAgain.unprotected[profile],
        plain,
        `${profile}: NSS unprotects OpenSSL's`,
      );
    }
  });
});
