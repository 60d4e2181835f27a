/**
 * The two SRTP engines side by side (issue 20, point 2): libsrtp2 through
 * native/srtp and node:crypto must give the same bytes and the same verdicts
 * for the same input. The rest of the SRTP suites (session, MKI, fuzz,
 * werift) run against each engine too.
 *
 * The session-key vectors of RFC 3711 B.2 and RFC 7714 §16-17 cannot reach
 * libsrtp (its API takes master keys only): they hold the node:crypto
 * transforms (rfc-vectors.test.ts), and libsrtp is held here to those
 * transforms byte for byte, and to libsrtp's own master-key vectors (the
 * AES-CM one uses RFC 3711 B.3's master key).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import {
  createSrtpSession,
  currentSrtpEngine,
  generateKeyingMaterial,
  SrtpEngineError,
  srtpProfiles,
  useSrtpEngine,
  type SrtpContext,
  type SrtpProfile,
  type SrtpResult,
} from '../../../../src/protocol/srtp/index.js';
import { libsrtpCode, loadLibsrtpAddon } from '../../../../src/protocol/srtp/libsrtp-addon.js';
import { libsrtpSendWindow } from '../../../../src/protocol/srtp/libsrtp-transform.js';
import { sessionsOn } from '../../../helpers/protocol/srtp-engines.js';
import {
  hex,
  randomRtpPacket,
  rtcpPacket,
  rtpPacket,
  SeededRandom,
} from '../../../helpers/protocol/srtp-packets.js';

const onNode = sessionsOn('node');
const onLibsrtp = sessionsOn('libsrtp');

/** A result with its packet copied: libsrtp's is a view it overwrites on its next call. */
function owned(result: SrtpResult): SrtpResult {
  return result.ok ? { ok: true, packet: Buffer.from(result.packet) } : result;
}

function addon() {
  const loaded = loadLibsrtpAddon();
  assert.ok(!('error' in loaded), `the libsrtp addon must be built: ${JSON.stringify(loaded)}`);
  return loaded.addon;
}

/** Runs the same call on a node and a libsrtp session and asserts the same result. */
function same(
  what: string,
  node: SrtpContext,
  libsrtp: SrtpContext,
  call: (session: SrtpContext) => SrtpResult,
): SrtpResult {
  const expected = owned(call(node));
  const actual = owned(call(libsrtp));
  assert.deepEqual(actual, expected, what);
  return expected;
}

describe('SRTP engines', () => {
  it("the libsrtp engine runs natively: libsrtp2 2.5 through the native/srtp addon, with OpenSSL's AES and HMAC-SHA1 (libsrtp's known-answer tests passed on them)", () => {
    assert.match(addon().version(), /^libsrtp2 2\.5/);
    assert.equal(addon().crypto(), 'openssl');
    const session = createSrtpSession(generateKeyingMaterial('AEAD_AES_128_GCM'), {}, 'libsrtp');
    assert.equal(session.engine, 'libsrtp');
    const plain = rtpPacket({ seq: 1, ssrc: 1, payload: Buffer.alloc(100, 7) });
    const first = session.protectRtp(plain);
    assert.ok(first.ok);
    // A view of the session's own buffer, reused by the next call (SrtpContext's contract).
    const second = session.protectRtp(rtpPacket({ seq: 2, ssrc: 1, payload: Buffer.alloc(100) }));
    assert.ok(second.ok);
    assert.equal(first.packet.buffer, second.packet.buffer);
  });

  for (const profile of srtpProfiles) {
    for (const mki of [undefined, Buffer.from([0xde, 0xad, 0xbe, 0xef])]) {
      const name = `${profile}${mki === undefined ? '' : ' with a 4-byte MKI'}`;
      it(`${name}: byte-identical protect over 3,000 random RTP/RTCP packets across wraps, each engine unprotecting the other's with the same verdicts`, () => {
        const random = new SeededRandom(0x5eed ^ profile.length ^ (mki === undefined ? 0 : 1));
        const keys = generateKeyingMaterial(profile);
        const options = mki === undefined ? {} : { mki };
        const [nodeTx, libTx, nodeRx, libRx] = [
          onNode(keys, options),
          onLibsrtp(keys, options),
          onNode(keys, options),
          onLibsrtp(keys, options),
        ];
        const ssrcs = [0x11111111, 0x22222222, 0xfffffff0];
        const seqs = ssrcs.map((_, i) => 65_000 + i * 300);
        // Each packet's bytes: the same from both senders (asserted by same()).
        const wire: { kind: 'rtp' | 'rtcp'; bytes: Buffer; plain: Buffer }[] = [];
        for (let i = 0; i < 3000; i++) {
          const which = random.below(ssrcs.length);
          const ssrc = ssrcs[which] ?? 0;
          if (i % 10 === 9) {
            const plain = rtcpPacket(random, ssrc, random.below(30));
            const result = same(`rtcp ${i}`, nodeTx, libTx, (s) => s.protectRtcp(plain));
            assert.ok(result.ok);
            wire.push({ kind: 'rtcp', bytes: result.packet, plain });
            continue;
          }
          // Mostly forward, by 1 to 3; sometimes back (a source that reordered).
          const step = random.below(25) === 0 ? -random.below(40) : 1 + random.below(3);
          const seq = ((seqs[which] ?? 0) + step + 0x1_0000) % 0x1_0000;
          seqs[which] = seq;
          const plain = randomRtpPacket(random, { seq, ssrc, maxPayload: 1300 });
          const result = same(`rtp ${i} seq ${seq}`, nodeTx, libTx, (s) => s.protectRtp(plain));
          assert.ok(result.ok);
          wire.push({ kind: 'rtp', bytes: result.packet, plain });
        }
        // Delivery: reordered, duplicated, some corrupted, to a receiver of each engine:
        // one engine protected, the other unprotects, with the same verdict and bytes.
        let delivered = 0;
        const seen = new Set<string>();
        for (let i = 0; i < wire.length; i++) {
          const swap = random.below(8) === 0 && i + 1 < wire.length;
          const packet = wire[swap ? i + 1 : i];
          assert.ok(packet);
          const copies = random.below(12) === 0 ? 2 : 1;
          for (let copy = 0; copy < copies; copy++) {
            // The same bytes to both receivers (both senders' packets are these bytes).
            const input = Buffer.from(packet.bytes);
            const corrupt = random.below(15) === 0;
            if (corrupt) {
              const at = random.below(input.length);
              input.writeUInt8(input.readUInt8(at) ^ 0x10, at);
            }
            const unprotect = (s: SrtpContext): SrtpResult =>
              packet.kind === 'rtp' ? s.unprotectRtp(input) : s.unprotectRtcp(input);
            const expected = owned(unprotect(nodeRx));
            assert.deepEqual(owned(unprotect(libRx)), expected, `delivery ${i} (${packet.kind})`);
            if (!expected.ok) seen.add(expected.reason);
            if (expected.ok) {
              delivered++;
              if (!corrupt && copy === 0) assert.deepEqual(expected.packet, packet.plain);
            }
          }
          if (swap) {
            const other = wire[i];
            assert.ok(other);
            const unprotect = (s: SrtpContext, b: Buffer): SrtpResult =>
              other.kind === 'rtp' ? s.unprotectRtp(b) : s.unprotectRtcp(b);
            assert.deepEqual(
              owned(unprotect(libRx, other.bytes)),
              owned(unprotect(nodeRx, other.bytes)),
              `swapped ${i}`,
            );
            i++;
          }
        }
        // Verdicts of each kind were compared: accepted, replayed (duplicates and indices the
        // sender used twice going back), forged (corrupted).
        assert.ok(delivered > 1500, `most packets get through (${delivered})`);
        assert.ok(seen.has('replay') && seen.has('auth_failed'), [...seen].join());
      });
    }
  }

  it('SRTCP index 0: libsrtp alone starts at index 1 (it increments before sending); the libsrtp engine sends index 0 through node:crypto, so both engines agree from the first packet', () => {
    for (const profile of srtpProfiles) {
      const keys = generateKeyingMaterial(profile);
      const [node, libsrtp] = [onNode(keys), onLibsrtp(keys)];
      const random = new SeededRandom(7);
      const indexAt = profile.startsWith('AEAD') ? 4 : 14;
      for (let index = 0; index < 5; index++) {
        const plain = rtcpPacket(random, 0xabc);
        const result = same(`${profile} index ${index}`, node, libsrtp, (s) =>
          s.protectRtcp(plain),
        );
        assert.ok(result.ok);
        assert.equal(
          result.packet.readUInt32BE(result.packet.length - indexAt),
          0x8000_0000 + index,
        );
      }
      // Counted: the first packet went through node:crypto, the rest through libsrtp.
      assert.equal(libsrtp.nodeCryptoPackets, 1);
      assert.equal(node.nodeCryptoPackets, 0);
    }
  });

  it(`a packet to send more than ${libsrtpSendWindow} indices behind the highest (libsrtp says replay_old) is protected as node protects it`, () => {
    for (const profile of srtpProfiles) {
      const keys = generateKeyingMaterial(profile);
      const [node, libsrtp] = [onNode(keys), onLibsrtp(keys)];
      for (const seq of [5000, 5000 - libsrtpSendWindow - 500, 5001, 5000 - 5, 4000]) {
        const plain = rtpPacket({ seq, ssrc: 9, payload: Buffer.alloc(50, seq & 0xff) });
        assert.ok(same(`${profile} seq ${seq}`, node, libsrtp, (s) => s.protectRtp(plain)).ok);
      }
      // Only the one past the window (4000, 1,001 behind, is inside it: libsrtp protects it).
      assert.equal(libsrtp.nodeCryptoPackets, 1);
      // With freshIndicesOnly both refuse it before any crypto.
      const fresh = { freshIndicesOnly: true };
      const [nodeFresh, libFresh] = [onNode(keys, fresh), onLibsrtp(keys, fresh)];
      for (const seq of [5000, 3000, 5000, 5001]) {
        const plain = rtpPacket({ seq, ssrc: 9 });
        same(`${profile} fresh ${seq}`, nodeFresh, libFresh, (s) => s.protectRtp(plain));
      }
    }
  });

  it("SRTCP received 128 or more indices behind (past libsrtp's fixed 128-packet database) is accepted as node accepts it with replayWindow 1024", () => {
    const keys = generateKeyingMaterial('AES_CM_128_HMAC_SHA1_80');
    const sender = onNode(keys);
    const random = new SeededRandom(11);
    const wires: Buffer[] = [];
    for (let i = 0; i < 700; i++) {
      const result = sender.protectRtcp(rtcpPacket(random, 0x77));
      assert.ok(result.ok);
      wires.push(Buffer.from(result.packet));
    }
    for (const replayWindow of [128, 1024]) {
      const [node, libsrtp] = [onNode(keys, { replayWindow }), onLibsrtp(keys, { replayWindow })];
      const order = [699, 600, 500, 300, 0, 500, 699, 698, 100];
      const verdicts = order.map((i) =>
        same(`window ${replayWindow} index ${i}`, node, libsrtp, (s) =>
          s.unprotectRtcp(wires[i] ?? Buffer.alloc(0)),
        ),
      );
      const reasons = verdicts.map((v) => (v.ok ? 'ok' : v.reason));
      assert.deepEqual(
        reasons,
        replayWindow === 128
          ? [
              'ok',
              'ok',
              'replay_too_old',
              'replay_too_old',
              'replay_too_old',
              'replay_too_old',
              'replay',
              'ok',
              'replay_too_old',
            ]
          : ['ok', 'ok', 'ok', 'ok', 'ok', 'replay', 'replay', 'ok', 'ok'],
      );
      // 500, 300, 0 and 100 with the larger window; our window refuses them first with 128.
      assert.equal(libsrtp.nodeCryptoPackets, replayWindow === 128 ? 0 : 4);
    }
  });

  it('maxSsrcs: an SSRC evicted from our table leaves libsrtp too (receive, send, RTP and RTCP alike)', () => {
    const keys = generateKeyingMaterial('AEAD_AES_128_GCM');
    const sender = onNode(keys);
    const wire = (ssrc: number, seq: number): Buffer => {
      const result = sender.protectRtp(rtpPacket({ seq, ssrc }));
      assert.ok(result.ok);
      return Buffer.from(result.packet);
    };
    const [one, two, three] = [wire(1, 10), wire(2, 10), wire(3, 10)];
    const [node, libsrtp] = [onNode(keys, { maxSsrcs: 2 }), onLibsrtp(keys, { maxSsrcs: 2 })];
    for (const packet of [one, two, three, one, three, two]) {
      same(`ssrc ${packet.readUInt32BE(8)}`, node, libsrtp, (s) => s.unprotectRtp(packet));
    }
    // Sending: SSRC 1 evicted by 2 and 3 starts again at ROC 0 on both, and its SRTCP at 0.
    const [nodeTx, libTx] = [onNode(keys, { maxSsrcs: 2 }), onLibsrtp(keys, { maxSsrcs: 2 })];
    const random = new SeededRandom(12);
    for (const [ssrc, seq] of [
      [1, 65535],
      [1, 0],
      [2, 5],
      [3, 5],
      [1, 65534],
      [1, 3],
    ] as const) {
      const plain = rtpPacket({ seq, ssrc });
      same(`send ssrc ${ssrc} seq ${seq}`, nodeTx, libTx, (s) => s.protectRtp(plain));
      const rtcp = rtcpPacket(random, ssrc);
      same(`send rtcp ${ssrc}`, nodeTx, libTx, (s) => s.protectRtcp(rtcp));
    }
  });

  it("libsrtp's srtp_validate vectors (AES-CM-80 with RFC 3711 B.3's master key; AEAD_AES_128_GCM) through both engines", () => {
    const vectors = [
      {
        keys: {
          profile: 'AES_CM_128_HMAC_SHA1_80' as SrtpProfile,
          masterKey: hex('E1F97A0D3E018BE0D64FA32C06DE4139'),
          masterSalt: hex('0EC675AD498AFEEBB6960B3AABE6'),
        },
        srtp: hex(`800f1234 decafbad cafebabe 4e55dc4c e79978d8 8ca4d215 949d2402
                   b78d6acc 99ea179b 8dbb`),
        srtcpIndex1: hex(`81c8000b cafebabe 7128035b e487b9bd bef89041 f977a5a8 80000001
                          993e08cd 54d6c123 0798`),
      },
      {
        keys: {
          profile: 'AEAD_AES_128_GCM' as SrtpProfile,
          masterKey: hex('000102030405060708090a0b0c0d0e0f'),
          masterSalt: hex('a0a1a2a3a4a5a6a7a8a9aaab'),
        },
        srtp: hex(`800f1234 decafbad cafebabe c5002ede 04cfdd2e b91159e0 880aa06e
                   d2976826 f796b201 df3131a1 27e8a392`),
        srtcpIndex1: hex(`81c8000b cafebabe c98b8b5d f0392a55 852b6c21 ac8e7025 c52c6fbe
                          a2b3b446 ea31123b a88ce61e 80000001`),
      },
    ];
    const rtp = hex('800f1234 decafbad cafebabe abababab abababab abababab abababab');
    const rtcp = hex('81c8000b cafebabe abababab abababab abababab abababab');
    for (const vector of vectors) {
      for (const make of [onNode, onLibsrtp]) {
        const what = `${vector.keys.profile} on ${make(vector.keys).engine}`;
        assert.deepEqual(
          owned(make(vector.keys).protectRtp(rtp)),
          { ok: true, packet: vector.srtp },
          what,
        );
        assert.deepEqual(
          owned(make(vector.keys).unprotectRtp(vector.srtp)),
          { ok: true, packet: rtp },
          what,
        );
        const sender = make(vector.keys);
        assert.ok(sender.protectRtcp(rtcp).ok, 'index 0');
        assert.deepEqual(
          owned(sender.protectRtcp(rtcp)),
          { ok: true, packet: vector.srtcpIndex1 },
          what,
        );
        assert.deepEqual(
          owned(make(vector.keys).unprotectRtcp(vector.srtcpIndex1)),
          { ok: true, packet: rtcp },
          what,
        );
      }
    }
  });

  it('hostile input: empty, truncated, garbage and 65,507-byte packets are drops with the same reason on both; a 65,000-byte packet protects the same', () => {
    const random = new SeededRandom(13);
    for (const profile of srtpProfiles) {
      const keys = generateKeyingMaterial(profile);
      const [node, libsrtp] = [onNode(keys), onLibsrtp(keys)];
      const good = owned(
        node.protectRtp(rtpPacket({ seq: 1, ssrc: 5, payload: Buffer.alloc(200) })),
      );
      assert.ok(good.ok);
      const inputs = [
        Buffer.alloc(0),
        ...Array.from({ length: 40 }, (_, i) => good.packet.subarray(0, i)),
        random.bytes(65_507),
        Buffer.concat([good.packet.subarray(0, 12), random.bytes(65_495)]),
        ...Array.from({ length: 200 }, () => random.bytes(random.below(1500))),
      ];
      for (const [i, input] of inputs.entries()) {
        same(`${profile} unprotect rtp ${i}`, node, libsrtp, (s) => s.unprotectRtp(input));
        same(`${profile} unprotect rtcp ${i}`, node, libsrtp, (s) => s.unprotectRtcp(input));
      }
      const big = rtpPacket({ seq: 2, ssrc: 5, payload: random.bytes(65_000) });
      assert.ok(same(`${profile} big`, node, libsrtp, (s) => s.protectRtp(big)).ok);
    }
  });

  it('hostile calls to the addon itself: wrong types throw a TypeError, lengths outside the buffer return a code', () => {
    const native = addon();
    const keyAndSalt = Buffer.alloc(30, 1);
    const handle = native.create(1, keyAndSalt, 128, 1024, undefined);
    const plain = rtpPacket({ seq: 1, ssrc: 1, payload: Buffer.alloc(100) });
    const call = (fn: () => unknown): void => {
      assert.throws(fn, (error: unknown) => error instanceof TypeError);
    };
    call(() => native.removeStream({} as typeof handle, 0, 1));
    call(() => native.removeStream((() => 0) as unknown as typeof handle, 0, 1));
    call(() => handle(9 as 0, plain, Buffer.alloc(2048), 0));
    call(() => handle(0, 'x' as unknown as Buffer, Buffer.alloc(2048), 0));
    call(() => handle(0, plain, new Uint16Array(1024) as unknown as Buffer, 0));
    call(() => native.create(3, keyAndSalt, 128, 1024, undefined));
    call(() => native.create(1, Buffer.alloc(29), 128, 1024, undefined));
    call(() => native.create(1, keyAndSalt, 10, 1024, undefined));
    call(() => native.create(1, keyAndSalt, 128, 1024, Buffer.alloc(129)));
    call(() => native.removeStream(handle, 4, 1));
    // The work buffer must hold the packet and libsrtp's trailer: refused, nothing written.
    const small = Buffer.alloc(plain.length + 10, 0xee);
    assert.equal(handle(0, plain, small, 0), libsrtpCode.noRoom);
    assert.ok(small.every((byte) => byte === 0xee));
    assert.equal(handle(1, plain, Buffer.alloc(10), 0), libsrtpCode.noRoom);
    const work = Buffer.alloc(2048);
    assert.equal(handle(0, Buffer.alloc(11, 0x80), work, 0), libsrtpCode.tooShort);
    // 15 CSRCs claim a 72-byte header: more than the packet holds, with or without its tag.
    const csrcLie = Buffer.from(plain.subarray(0, 60));
    csrcLie.writeUInt8(0x8f, 0);
    assert.equal(handle(0, csrcLie, work, 0), libsrtpCode.badHeader);
    assert.equal(handle(1, csrcLie, work, 0), libsrtpCode.badHeader);
    assert.equal(handle(2, Buffer.alloc(7), work, 0), libsrtpCode.tooShort);
    assert.equal(handle(3, Buffer.alloc(21, 0x80), work, 0), libsrtpCode.tooShort);
    const withMki = native.create(7, Buffer.alloc(28, 2), 128, 1024, Buffer.from([1, 2, 3, 4]));
    const protectedPacket = withMki(0, plain, work, 0);
    assert.equal(protectedPacket, plain.length + 16 + 4);
    const wrongMki = Buffer.from(work.subarray(0, protectedPacket));
    wrongMki.writeUInt8(9, wrongMki.length - 1);
    assert.equal(withMki(1, wrongMki, work, 0), libsrtpCode.mkiMismatch);
    // A wrong expected ROC is caught, never sent as if fine.
    assert.equal(handle(0, plain, work, 5), libsrtpCode.diverged);
    // Views at an offset of a larger buffer (pooled Buffers are): their own bytes, read and written.
    const one = native.create(1, keyAndSalt, 128, 1024, undefined);
    const two = native.create(1, keyAndSalt, 128, 1024, undefined);
    const inView = Buffer.concat([Buffer.alloc(3, 0xaa), plain]).subarray(3);
    const parent = Buffer.alloc(2048 + 5, 0xbb);
    const outView = parent.subarray(5);
    const length = one(0, plain, work, 0);
    assert.equal(two(0, inView, outView, 0), length);
    assert.deepEqual(outView.subarray(0, length), work.subarray(0, length));
    assert.ok(
      parent.subarray(0, 5).every((byte) => byte === 0xbb),
      'nothing written before the view',
    );
  });

  it('works in worker threads: two workers protect at once (srtp_init guarded) and give the bytes the main thread gives', async () => {
    const keys = generateKeyingMaterial('AEAD_AES_256_GCM');
    const moduleUrl = new URL('../../../../src/protocol/srtp/index.js', import.meta.url).href;
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.moduleUrl).then(({ createSrtpSession }) => {
        const keys = { profile: workerData.profile, masterKey: Buffer.from(workerData.key, 'hex'), masterSalt: Buffer.from(workerData.salt, 'hex') };
        const session = createSrtpSession(keys, {}, 'libsrtp');
        const out = [];
        for (let seq = 0; seq < 500; seq++) {
          const plain = Buffer.alloc(200, seq & 0xff);
          plain[0] = 0x80; plain.writeUInt16BE(seq, 2); plain.writeUInt32BE(42, 8);
          const result = session.protectRtp(plain);
          out.push(result.ok ? Buffer.from(result.packet).toString('hex') : result.reason);
        }
        parentPort.postMessage({ engine: session.engine, out });
      });`;
    const run = (): Promise<{ engine: string; out: string[] }> =>
      new Promise((resolve, reject) => {
        const worker = new Worker(source, {
          eval: true,
          // Not the test runner's flags: a worker started with --test runs as a test file.
          execArgv: [],
          workerData: {
            moduleUrl,
            profile: keys.profile,
            key: keys.masterKey.toString('hex'),
            salt: keys.masterSalt.toString('hex'),
          },
        });
        worker.once('message', (message: { engine: string; out: string[] }) => {
          resolve(message);
          void worker.terminate();
        });
        worker.once('error', reject);
      });
    const [first, second] = await Promise.all([run(), run()]);
    const node = onNode(keys);
    const expected = Array.from({ length: 500 }, (_, seq) => {
      const plain = Buffer.alloc(200, seq & 0xff);
      plain[0] = 0x80;
      plain.writeUInt16BE(seq, 2);
      plain.writeUInt32BE(42, 8);
      const result = node.protectRtp(plain);
      return result.ok ? result.packet.toString('hex') : result.reason;
    });
    assert.equal(first.engine, 'libsrtp');
    assert.deepEqual(first.out, expected);
    assert.deepEqual(second.out, expected);
  });

  it('a collected session is freed by its finalizer (libsrtp sessions deallocated, keys zeroed)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const native = addon();
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 5; i++) {
        gc();
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    await settle();
    const before = native.liveContexts();
    (() => {
      for (let i = 0; i < 300; i++) {
        const session = onLibsrtp(generateKeyingMaterial('AES_CM_128_HMAC_SHA1_80'));
        assert.ok(session.protectRtp(rtpPacket({ seq: i, ssrc: i })).ok);
      }
    })();
    assert.ok(native.liveContexts() >= before + 300, 'each session holds a context');
    await settle();
    assert.ok(
      native.liveContexts() < before + 30,
      `finalizers ran: ${native.liveContexts() - before} of 300 left`,
    );
  });

  it("useSrtpEngine: libsrtp when built, node on request, an unknown name refused; createSrtpSession follows the thread's choice", () => {
    const keys = generateKeyingMaterial('AES_CM_128_HMAC_SHA1_32');
    try {
      assert.equal(useSrtpEngine('libsrtp'), 'libsrtp');
      assert.equal(createSrtpSession(keys).engine, 'libsrtp');
      assert.equal(useSrtpEngine('node'), 'node');
      assert.equal(currentSrtpEngine(), 'node');
      assert.equal(createSrtpSession(keys).engine, 'node');
      assert.equal(useSrtpEngine('auto'), 'libsrtp');
      assert.throws(
        () => useSrtpEngine('openssl' as 'auto'),
        (error: unknown) => error instanceof SrtpEngineError && error.code === 'ERR_SRTP_ENGINE',
      );
      assert.equal(currentSrtpEngine(), 'libsrtp', 'a refused choice changes nothing');
    } finally {
      useSrtpEngine('auto');
    }
  });
});
