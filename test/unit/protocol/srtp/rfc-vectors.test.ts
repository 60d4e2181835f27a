/**
 * Known answers, byte for byte: RFC 3711 Appendix B.2 (AES-CM keystream) and
 * B.3 (key derivation), RFC 7714 §16 and §17 (AES-GCM SRTP and SRTCP), and
 * libsrtp's srtp_validate vectors for AES_CM_128_HMAC_SHA1_80 through the whole
 * session (which libsrtp 2.5 on this machine reproduces: libsrtp.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AeadGcmTransform } from '../../../../src/protocol/srtp/aead-gcm.js';
import { AesCmHmacTransform } from '../../../../src/protocol/srtp/aes-cm.js';
import { deriveSessionKey, kdfIv, kdfLabel } from '../../../../src/protocol/srtp/key-derivation.js';
import { SrtpSession } from '../../../../src/protocol/srtp/index.js';
import { hex } from '../../../helpers/protocol/srtp-packets.js';

describe('RFC 3711 Appendix B.2: AES-CM keystream', () => {
  // Session key and salt as given; SSRC, ROC and SEQ 0, so the IV is salt * 2^16.
  const transform = new AesCmHmacTransform(
    {
      rtp: {
        encryptionKey: hex('2B7E151628AED2A6ABF7158809CF4F3C'),
        authenticationKey: Buffer.alloc(20),
        salt: hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD'),
      },
      rtcp: {
        encryptionKey: Buffer.alloc(16),
        authenticationKey: Buffer.alloc(20),
        salt: Buffer.alloc(14),
      },
    },
    10,
  );
  const header = Buffer.from('800000000000000000000000', 'hex');

  it('encrypts a zero payload to the keystream, blocks 0000 to 0002 and FEFF to FF01', () => {
    // Through the real SRTP path: the ciphertext of zeros is the keystream itself.
    const blocks = 0xff02;
    const plain = Buffer.concat([header, Buffer.alloc(blocks * 16)]);
    const out = transform.protectRtp(plain, 12, 0, 0, 0);
    const block = (n: number): string =>
      out
        .subarray(12 + n * 16, 12 + (n + 1) * 16)
        .toString('hex')
        .toUpperCase();
    assert.equal(block(0x0000), 'E03EAD0935C95E80E166B16DD92B4EB4');
    assert.equal(block(0x0001), 'D23513162B02D0F72A43A2FE4A5F97AB');
    assert.equal(block(0x0002), '41E95B3BB0A2E8DD477901E4FCA894C0');
    assert.equal(block(0xfeff), 'EC8CDF7398607CB0F2D21675EA9EA1E4');
    assert.equal(block(0xff00), '362B7C3C6773516318A077D7FC5073AE');
    assert.equal(block(0xff01), '6A2CC3787889374FBEB4C81B17BA6C44');
  });
});

describe('RFC 3711 Appendix B.3: key derivation', () => {
  const masterKey = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
  const masterSalt = hex('0EC675AD498AFEEBB6960B3AABE6');

  it('forms the PRF input block from salt, label and a zero block counter', () => {
    assert.deepEqual(
      kdfIv(masterSalt, kdfLabel.rtpEncryption),
      hex('0EC675AD498AFEEBB6960B3AABE60000'),
    );
    assert.deepEqual(
      kdfIv(masterSalt, kdfLabel.rtpAuthentication),
      hex('0EC675AD498AFEEAB6960B3AABE60000'),
    );
    assert.deepEqual(kdfIv(masterSalt, kdfLabel.rtpSalt), hex('0EC675AD498AFEE9B6960B3AABE60000'));
  });

  it('derives the cipher key, cipher salt and (94-byte) authentication key', () => {
    assert.deepEqual(
      deriveSessionKey(masterKey, masterSalt, kdfLabel.rtpEncryption, 16),
      hex('C61E7A93744F39EE10734AFE3FF7A087'),
    );
    assert.deepEqual(
      deriveSessionKey(masterKey, masterSalt, kdfLabel.rtpSalt, 14),
      hex('30CBBC08863D8C85D49DB34A9AE1'),
    );
    assert.deepEqual(
      deriveSessionKey(masterKey, masterSalt, kdfLabel.rtpAuthentication, 94),
      hex(`CEBE321F6FF7716B6FD4AB49AF256A156D38BAA48F0A0ACF3C34E2359E6CDBCE
           E049646C43D9327AD175578EF72270986371C10C9A369AC2F94A8C5FBCDDDC25
           6D6E919A48B610EF17C2041E474035766B68642C59BBFC2F34DB60DBDFB2`),
    );
  });
});

describe('RFC 7714 §16 and §17: AES-GCM', () => {
  // The RFC gives the session encryption key and salt, not master keys.
  const salt = hex('517569642070726f2071756f'); // "Quid pro quo"
  const key128 = hex('000102030405060708090a0b0c0d0e0f');
  const key256 = hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
  const gcm = (encryptionKey: Buffer): AeadGcmTransform =>
    new AeadGcmTransform({ rtp: { encryptionKey, salt }, rtcp: { encryptionKey, salt } });

  // "Gallia est omnis divisa in partes tres", SSRC 0x5501a0b2, SEQ 0xf17b, ROC 0.
  const rtp = hex(`8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973
                   20646976 69736120 696e2070 61727465 73207472 6573`);
  // A sender report from SSRC "Mars", SRTCP index 0x5d4.
  const rtcp = hex(`81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930
                    4c756e61 deadbeef deadbeef deadbeef deadbeef deadbeef`);

  const cases = [
    {
      name: 'AEAD_AES_128_GCM',
      key: key128,
      srtp: `8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5
             0d294e6f 42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1 6a9152cf 765ee439 0cce`,
      srtcp: `81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d
              c676a5f1 730d6fda 4ce09b46 86303ded 0bb9275b c84aa458 96cf4d2f c5abf872
              45d9eade 800005d4`,
      srtcpTagOnly: `81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61
                     deadbeef deadbeef deadbeef deadbeef deadbeef 841dd968 3dd78ec9 2ae58790
                     125f62b3 000005d4`,
    },
    {
      name: 'AEAD_AES_256_GCM',
      key: key256,
      srtp: `8040f17b 8041f8d3 5501a0b2 32b1de78 a822fe12 ef9f78fa 332e33aa b1801238
             9a58e2f3 b50b2a02 76ffae0f 1ba63799 b87b7aa3 db36dfff d6b0f9bb 7878d7a7 6c13`,
      srtcp: `81c8000d 4d617273 d50ae4d1 f5ce5d30 4ba297e4 7d470c28 2c3ece5d bffe0a50
              a2eaa5c1 110555be 8415f658 c61de047 6f1b6fad 1d1eb30c 4446839f 57ff6f6c
              b26ac3be 800005d4`,
      srtcpTagOnly: `81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61
                     deadbeef deadbeef deadbeef deadbeef deadbeef 91db4afb feee5a97 8fab4393
                     ed2615fe 000005d4`,
    },
  ];

  for (const vector of cases) {
    describe(vector.name, () => {
      it('SRTP: encrypts and decrypts the vector', () => {
        const transform = gcm(vector.key);
        assert.deepEqual(transform.protectRtp(rtp, 12, 0x5501a0b2, 0, 0xf17b), hex(vector.srtp));
        assert.deepEqual(transform.unprotectRtp(hex(vector.srtp), 12, 0x5501a0b2, 0, 0xf17b), rtp);
      });

      it('SRTP: refuses the vector with a flipped tag bit or under the wrong ROC', () => {
        const transform = gcm(vector.key);
        const tampered = hex(vector.srtp);
        tampered.writeUInt8(tampered.readUInt8(tampered.length - 1) ^ 1, tampered.length - 1);
        assert.equal(transform.unprotectRtp(tampered, 12, 0x5501a0b2, 0, 0xf17b), undefined);
        assert.equal(
          transform.unprotectRtp(hex(vector.srtp), 12, 0x5501a0b2, 1, 0xf17b),
          undefined,
        );
      });

      it('SRTCP: encrypts and decrypts the vector (E=1)', () => {
        const transform = gcm(vector.key);
        assert.deepEqual(transform.protectRtcp(rtcp, 0x4d617273, 0x5d4, true), hex(vector.srtcp));
        assert.deepEqual(transform.unprotectRtcp(hex(vector.srtcp), 0x4d617273, 0x5d4, true), rtcp);
      });

      it('SRTCP: authenticates the tag-only vector (E=0)', () => {
        const transform = gcm(vector.key);
        assert.deepEqual(
          transform.protectRtcp(rtcp, 0x4d617273, 0x5d4, false),
          hex(vector.srtcpTagOnly),
        );
        assert.deepEqual(
          transform.unprotectRtcp(hex(vector.srtcpTagOnly), 0x4d617273, 0x5d4, false),
          rtcp,
        );
      });
    });
  }
});

describe("libsrtp's srtp_validate vectors (AES_CM_128_HMAC_SHA1_80, master keys of B.3)", () => {
  const keys = {
    profile: 'AES_CM_128_HMAC_SHA1_80',
    masterKey: hex('E1F97A0D3E018BE0D64FA32C06DE4139'),
    masterSalt: hex('0EC675AD498AFEEBB6960B3AABE6'),
  } as const;
  const rtp = hex('800f1234 decafbad cafebabe abababab abababab abababab abababab');
  const srtp = hex(`800f1234 decafbad cafebabe 4e55dc4c e79978d8 8ca4d215 949d2402
                    b78d6acc 99ea179b 8dbb`);
  const rtcp = hex('81c8000b cafebabe abababab abababab abababab abababab');
  // libsrtp numbers SRTCP packets from 1; RFC 3711 §3.4 (and SrtpSession) from 0.
  const srtcpIndex1 = hex(`81c8000b cafebabe 7128035b e487b9bd bef89041 f977a5a8 80000001
                           993e08cd 54d6c123 0798`);

  it('protects and unprotects SRTP through the session', () => {
    assert.deepEqual(new SrtpSession(keys).protectRtp(rtp), { ok: true, packet: srtp });
    assert.deepEqual(new SrtpSession(keys).unprotectRtp(srtp), { ok: true, packet: rtp });
  });

  it('protects and unprotects SRTCP through the session', () => {
    const session = new SrtpSession(keys);
    const first = session.protectRtcp(rtcp);
    assert.ok(first.ok);
    assert.equal(first.packet.readUInt32BE(first.packet.length - 14), 0x8000_0000);
    assert.deepEqual(session.protectRtcp(rtcp), { ok: true, packet: srtcpIndex1 });
    assert.deepEqual(new SrtpSession(keys).unprotectRtcp(srtcpIndex1), { ok: true, packet: rtcp });
  });
});
