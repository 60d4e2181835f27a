/**
 * The RTP fixtures in test/fixtures/rtp, written out byte by byte with what
 * each word means. They are shaped after what browsers and media servers
 * send (Chrome's header extension IDs and padding probes, Opus and H.264
 * payload headers) and do not use the codec under test.
 *
 * Regenerate after editing:
 *   npx tsc -p tsconfig.build.json && node dist/test/helpers/protocol/rtp-fixtures.js
 * The fixtures test fails when the files and this module disagree.
 *
 * Names: `valid-<what>.bin`, or `invalid-<drop reason>-<what>.bin`, the
 * reason being what `checkRtp` must return.
 */
import { fileURLToPath } from 'node:url';
import { bytes, filler, withByte, writeFixtures } from './rtp-support.js';

/** Chrome-style H.264 video: FU-A start of an IDR slice, RFC 8285 one-byte extensions. */
const h264FuA = bytes(
  '90 66 5a 4d', // V=2 P=0 X=1 CC=0 | M=0 PT=102 | sequence 23117
  '2d 3e 6f 80', // timestamp 759066496 (90 kHz)
  '6c 1f 3a 52', // SSRC
  'be de 00 03', // one-byte extension profile, 3 words
  '22 8c 3f 5e', // ID 2 L=2: abs-send-time 0x8c3f5e
  '31 01 7a', // ID 3 L=1: transport-wide sequence 378
  '40 30', // ID 4 L=0: MID "0"
  '00 00 00', // padding to the word
  '7c', // FU indicator: F=0 NRI=3 type=28 (FU-A)
  '85', // FU header: S=1 E=0 type=5 (IDR slice)
  filler(1150, 264), // slice data
);

/** Opus voice frame after silence: marker set, audio level and transport-cc extensions. */
const opusAudioLevel = bytes(
  '90 ef 1b 2c', // V=2 P=0 X=1 CC=0 | M=1 PT=111 | sequence 6956
  '00 0b b8 00', // timestamp 768000 (48 kHz)
  '3a 9d 11 c4', // SSRC
  'be de 00 02', // one-byte extension profile, 2 words
  '10 ba', // ID 1 L=0: ssrc-audio-level, voice=1 level=58 (-58 dBov)
  '31 00 2b', // ID 3 L=1: transport-wide sequence 43
  '00 00 00', // padding to the word
  '78', // Opus TOC: config 15 (hybrid FB 20 ms), mono, one frame
  filler(71, 111), // Opus frame
);

/** Opus without extensions, as a plain RTP sender (ffmpeg, GStreamer) sends it. */
const opusPlain = bytes(
  '80 6f 00 01', // V=2 P=0 X=0 CC=0 | M=0 PT=111 | sequence 1
  '00 00 03 c0', // timestamp 960
  '0b ad ca fe', // SSRC
  'fc', // Opus TOC: config 31 (CELT FB 20 ms), stereo=0, one frame
  filler(60, 60), // Opus frame
);

/** Audio mixer output: PCMU with two contributing sources. */
const pcmuCsrcs = bytes(
  '82 80 12 34', // V=2 P=0 X=0 CC=2 | M=1 PT=0 (PCMU) | sequence 4660
  '00 01 f4 00', // timestamp 128000 (8 kHz)
  '00 00 be ef', // SSRC of the mixer
  '11 11 11 11', // CSRC 1
  '22 22 22 22', // CSRC 2
  filler(160, 0), // 20 ms of G.711 mu-law
);

/** VP8 with 4 bytes of padding (as an SRTP sender aligning to a block might). */
const vp8Padding = bytes(
  'a0 60 00 64', // V=2 P=1 X=0 CC=0 | M=0 PT=96 (VP8) | sequence 100
  '00 00 0b b8', // timestamp 3000
  '00 00 00 0a', // SSRC
  '90 80 12', // VP8 payload descriptor: X=1 S=1 PID=0, I=1, PictureID 0x12
  filler(41, 8), // VP8 partition
  '00 00 00 04', // padding: three zeros and the count, 4
);

/** Chrome's bandwidth probe: RTX packet that is header and 224 bytes of padding, no payload. */
const paddingOnlyProbe = bytes(
  'b0 61 03 e8', // V=2 P=1 X=1 CC=0 | M=0 PT=97 (RTX) | sequence 1000
  '2d 3e 6f 80', // timestamp
  '7d 0a 55 10', // SSRC of the RTX stream
  'be de 00 02', // one-byte extension profile, 2 words
  '22 8c 40 01', // ID 2 L=2: abs-send-time
  '31 01 7b', // ID 3 L=1: transport-wide sequence 379
  '00', // padding to the word
  Buffer.alloc(223), // padding
  'e0', // padding count 224: header + padding is the whole packet
);

/** RFC 8285 two-byte form: an element too long for one byte's ID, and a zero-length one. */
const twoByteExtension = bytes(
  '90 60 00 07', // V=2 P=0 X=1 CC=0 | M=0 PT=96 | sequence 7
  '00 00 00 00', // timestamp 0
  '00 00 00 0b', // SSRC
  '10 00 00 04', // two-byte extension profile (app bits 0), 4 words
  '01 04 aa bb cc dd', // ID 1 L=4
  '0f 00', // ID 15 L=0 (zero length is allowed in the two-byte form)
  '11 03 01 02 03', // ID 17 L=3
  '00 00 00', // padding to the word
  filler(20, 7), // payload
);

/** Just the fixed header: an empty payload is valid. */
const headerOnly = bytes(
  '80 0d ff ff', // V=2 | M=0 PT=13 (comfort noise) | sequence 65535
  'ff ff ff ff', // timestamp 2^32-1
  'ff ff ff ff', // SSRC 2^32-1
);

export const rtpFixtures: Record<string, Buffer> = {
  'valid-h264-fu-a-one-byte-ext.bin': h264FuA,
  'valid-opus-audio-level.bin': opusAudioLevel,
  'valid-opus-plain.bin': opusPlain,
  'valid-pcmu-csrcs.bin': pcmuCsrcs,
  'valid-vp8-padding.bin': vp8Padding,
  'valid-padding-only-probe.bin': paddingOnlyProbe,
  'valid-two-byte-ext.bin': twoByteExtension,
  'valid-header-only.bin': headerOnly,

  'invalid-runt-empty.bin': Buffer.alloc(0),
  'invalid-runt-11-bytes.bin': opusPlain.subarray(0, 11),
  // A STUN binding request on the media port: first two bits 00.
  'invalid-bad_version-stun-binding.bin': bytes(
    '00 01 00 00', // STUN binding request, no attributes
    '21 12 a4 42', // magic cookie
    '5a 6b 7c 8d 9e af b0 c1 d2 e3 f4 05', // transaction id
  ),
  'invalid-bad_version-v1.bin': withByte(opusPlain, 0, 0x40),
  'invalid-bad_version-v3.bin': withByte(opusPlain, 0, 0xc0),
  // CC=15 needs 72 header bytes; the packet has 40.
  'invalid-bad_csrc_count-lies.bin': bytes(
    '8f 00 00 01',
    '00 00 00 a0',
    '00 00 00 0c',
    filler(28, 15),
  ),
  // The mixer packet cut inside its second CSRC.
  'invalid-bad_csrc_count-truncated.bin': pcmuCsrcs.subarray(0, 18),
  // X=1 but the packet ends 2 bytes into the extension header.
  'invalid-bad_extension_length-no-ext-header.bin': bytes(
    '90 60 00 01',
    '00 00 00 00',
    '00 00 00 0b',
    'be de',
  ),
  // Extension length 1024 words in a 1180-byte packet.
  'invalid-bad_extension_length-lies.bin': withByte(h264FuA, 14, 0x04),
  // The H.264 packet cut inside its extension.
  'invalid-bad_extension_length-truncated.bin': h264FuA.subarray(0, 24),
  'invalid-bad_padding-zero-count.bin': withByte(vp8Padding, vp8Padding.length - 1, 0),
  // Padding count 255 in a 60-byte packet.
  'invalid-bad_padding-count-past-packet.bin': withByte(vp8Padding, vp8Padding.length - 1, 0xff),
  // Header (12) + padding count (9) is one more than the 20 bytes there are.
  'invalid-bad_padding-overlaps-header.bin': bytes(
    'a0 60 00 01',
    '00 00 00 00',
    '00 00 00 0c',
    '00 00 00 00 00 00 00 09',
  ),
  // The probe with its extension length grown by a word: now header + padding overrun.
  'invalid-bad_padding-probe-overrun.bin': withByte(paddingOnlyProbe, 15, 0x03),
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFixtures('rtp', rtpFixtures);
  console.log(`wrote ${Object.keys(rtpFixtures).length} RTP fixtures`);
}
