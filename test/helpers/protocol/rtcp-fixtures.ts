/**
 * The RTCP fixtures in test/fixtures/rtcp, written out word by word with what
 * each means. They follow what browsers send (libwebrtc's compound SR/RR +
 * SDES CNAME, receive-only reports from SSRC 1, reduced-size feedback,
 * transport-cc with P-bit padding, REMB) and do not use the codec under test.
 *
 * Regenerate after editing:
 *   npx tsc -p tsconfig.build.json && node dist/test/helpers/protocol/rtcp-fixtures.js
 * The fixtures test fails when the files and this module disagree.
 *
 * Names: `valid-<what>.bin`, or `invalid-<drop reason>-<what>.bin`, the
 * reason being what `parseRtcpCompound` must return.
 */
import { fileURLToPath } from 'node:url';
import { bytes, withByte, writeFixtures } from './rtp-support.js';

const VIDEO_SSRC = '6c 1f 3a 52';
const AUDIO_SSRC = '3a 9d 11 c4';
const CNAME = '01 10 6b 33 6c 52 31 42 57 74 46 58 49 39 6b 50 30 65'; // CNAME, 16: "k3lR1BWtFXI9kP0e"

/** SDES with one chunk: `ssrc`'s CNAME. 4 + 18 bytes, END and one null fill. */
function sdesCname(ssrc: string): Buffer {
  return bytes(
    '81 ca 00 06', // V=2 P=0 SC=1 | PT=202 SDES | length 6 (28 bytes)
    ssrc,
    CNAME,
    '00 00', // END, fill to the word
  );
}

/** Video sender's SR with one report block about the audio it receives, then its CNAME. */
const srSdes = bytes(
  '81 c8 00 0c', // V=2 P=0 RC=1 | PT=200 SR | length 12 (52 bytes)
  VIDEO_SSRC, // SSRC of sender
  'ee b2 81 a0', // NTP seconds: 2026-11-26T10:00:00Z
  '40 00 00 00', // NTP fraction: 0.25 s
  '2d 3e 6f 80', // RTP timestamp
  '00 00 0b 9a', // sender's packet count 2970
  '00 2e 5f 41', // sender's octet count 3039041
  AUDIO_SSRC, // report block: SSRC_1
  '05 00 00 2a', // fraction lost 5/256 | cumulative lost 42
  '00 01 1b 2c', // extended highest sequence: 1 cycle, 6956
  '00 00 00 9c', // jitter 156
  '81 a0 10 00', // LSR: middle 32 bits of an SR sent at 10:00:00.0625
  '00 01 30 00', // DLSR: 1.1875 s in 1/65536 s
  sdesCname(VIDEO_SSRC),
);

/** Receive-only endpoint (libwebrtc uses SSRC 1): RR with two blocks, one of them negative loss. */
const rrSdes = bytes(
  '82 c9 00 0d', // V=2 P=0 RC=2 | PT=201 RR | length 13 (56 bytes)
  '00 00 00 01', // SSRC of packet sender
  VIDEO_SSRC, // block 1: SSRC
  '00 00 00 00', // fraction lost 0 | cumulative lost 0
  '00 00 5a 4d', // extended highest sequence 23117
  '00 00 01 2c', // jitter 300
  '81 a0 10 00', // LSR
  '00 00 80 00', // DLSR 0.5 s
  AUDIO_SSRC, // block 2: SSRC
  '00 ff ff fd', // fraction lost 0 | cumulative lost -3 (duplicates)
  '00 01 1b 2c', // extended highest sequence
  '00 00 00 12', // jitter 18
  '00 00 00 00', // LSR: no SR received yet
  '00 00 00 00', // DLSR
  sdesCname('00 00 00 01'),
);

/** SR from an audio+video sender: no blocks, SDES with two chunks, one with two items. */
const srSdesTwoChunks = bytes(
  '80 c8 00 06', // V=2 P=0 RC=0 | PT=200 SR | length 6 (28 bytes)
  AUDIO_SSRC, // SSRC of sender
  'ee b2 81 a0', // NTP seconds
  'ff ff ff ff', // NTP fraction: just under a second
  'ff ff ff ff', // RTP timestamp 2^32-1
  '00 00 00 00', // packet count
  '00 00 00 00', // octet count
  '82 ca 00 0f', // V=2 P=0 SC=2 | PT=202 SDES | length 15 (64 bytes)
  AUDIO_SSRC, // chunk 1
  CNAME,
  '06 0a 73 74 72 65 61 6d 6d 65 73 68', // TOOL, 10: "streammesh"
  '00 00', // END at chunk offset 34, one null to reach 36
  VIDEO_SSRC, // chunk 2
  CNAME,
  '00 00', // END, fill
);

/** Reduced-size (RFC 5506) Generic NACK: 23117, 23118, 23120 and 23152. */
const nack = bytes(
  '81 cd 00 04', // V=2 P=0 FMT=1 | PT=205 RTPFB | length 4 (20 bytes)
  '00 00 00 01', // SSRC of packet sender
  VIDEO_SSRC, // SSRC of media source
  '5a 4d 00 05', // PID 23117 | BLP bits 0 and 2: 23118, 23120
  '5a 70 00 00', // PID 23152 | BLP 0
);

/** NACK across the sequence number wrap: 65528, 65529 and 8 (= 65544 mod 2^16). */
const nackWrap = bytes(
  '81 cd 00 03', // V=2 P=0 FMT=1 | PT=205 RTPFB | length 3 (16 bytes)
  '00 00 00 01', // SSRC of packet sender
  VIDEO_SSRC, // SSRC of media source
  'ff f8 80 01', // PID 65528 | BLP bits 0 and 15
);

/** Reduced-size PLI. */
const pli = bytes(
  '81 ce 00 02', // V=2 P=0 FMT=1 | PT=206 PSFB | length 2 (12 bytes)
  '00 00 00 01', // SSRC of packet sender
  VIDEO_SSRC, // SSRC of media source
);

/** FIR (RFC 5104): media source 0 in the header, the target in the entry. */
const fir = bytes(
  '84 ce 00 04', // V=2 P=0 FMT=4 | PT=206 PSFB | length 4 (20 bytes)
  '00 00 00 01', // SSRC of packet sender
  '00 00 00 00', // SSRC of media source: unused, 0
  VIDEO_SSRC, // FCI: SSRC
  '07 00 00 00', // Seq nr. 7 | reserved
);

/** Leaving: RR (nothing to report), CNAME, BYE with a reason. */
const rrSdesByeReason = bytes(
  '80 c9 00 01', // V=2 P=0 RC=0 | PT=201 RR | length 1 (8 bytes)
  VIDEO_SSRC, // SSRC of packet sender
  sdesCname(VIDEO_SSRC),
  '81 cb 00 05', // V=2 P=0 SC=1 | PT=203 BYE | length 5 (24 bytes)
  VIDEO_SSRC, // SSRC
  '0d 73 65 73 73 69 6f 6e 20 65 6e 64 65 64', // length 13: "session ended"
  '00 00', // fill to the word
);

/** APP packet, subtype 3, name "STMS", two words of data. */
const app = bytes(
  '83 cc 00 04', // V=2 P=0 subtype=3 | PT=204 APP | length 4 (20 bytes)
  VIDEO_SSRC, // SSRC
  '53 54 4d 53', // name "STMS"
  '00 00 00 2a 00 00 01 00', // application data
);

/** libwebrtc transport-wide congestion control (RTPFB FMT 15), padded with the P bit. */
const transportCc = bytes(
  'af cd 00 06', // V=2 P=1 FMT=15 | PT=205 RTPFB | length 6 (28 bytes)
  '00 00 00 01', // SSRC of packet sender
  VIDEO_SSRC, // SSRC of media source
  '01 7a 00 03', // base sequence 378 | packet status count 3
  '01 e2 40 05', // reference time 123456 (x64 ms) | feedback packet count 5
  '20 03', // run-length chunk: received, small delta, run of 3
  '04 08 0c', // receive deltas (x250 us)
  '00 00 03', // padding: two zeros and the count, 3
);

/** REMB (PSFB FMT 15, draft-alvestrand-rmcat-remb): 1.5 Mbps for the video SSRC. */
const remb = bytes(
  '8f ce 00 05', // V=2 P=0 FMT=15 | PT=206 PSFB | length 5 (24 bytes)
  '00 00 00 01', // SSRC of packet sender
  '00 00 00 00', // SSRC of media source: unused
  '52 45 4d 42', // "REMB"
  '01 0e dc 6c', // num SSRC 1 | exp 3, mantissa 187500 (187500 << 3 = 1.5e6)
  VIDEO_SSRC, // SSRC feedback
);

/** RR then an XR (PT 207, RFC 3611) receiver reference time block: XR is kept raw. */
const rrXr = bytes(
  '80 c9 00 01', // V=2 P=0 RC=0 | PT=201 RR | length 1
  '00 00 00 01', // SSRC of packet sender
  '80 cf 00 04', // V=2 P=0 | PT=207 XR | length 4 (20 bytes)
  '00 00 00 01', // SSRC
  '04 00 00 02', // block type 4 (RRTR) | reserved | block length 2
  'ee b2 81 a0 40 00 00 00', // NTP timestamp
);

/** RR + SDES as SRTCP senders pad it: P on the last packet, 4 bytes of padding. */
const rrSdesPadded = bytes(
  '80 c9 00 01', // V=2 P=0 RC=0 | PT=201 RR | length 1
  '00 00 00 01', // SSRC of packet sender
  'a1 ca 00 07', // V=2 P=1 SC=1 | PT=202 SDES | length 7 (32 bytes)
  '00 00 00 01', // chunk SSRC
  CNAME,
  '00 00', // END, fill
  '00 00 00 04', // padding: three zeros and the count, 4
);

/** A 4-byte prefix of an RTCP header repeated: length field 1 promises 8 bytes. */
const rrHeaderOnly = bytes('80 c9 00 01');

export const rtcpFixtures: Record<string, Buffer> = {
  'valid-sr-sdes.bin': srSdes,
  'valid-rr-sdes.bin': rrSdes,
  'valid-sr-sdes-two-chunks.bin': srSdesTwoChunks,
  'valid-nack.bin': nack,
  'valid-nack-wrap.bin': nackWrap,
  'valid-pli.bin': pli,
  'valid-fir.bin': fir,
  'valid-rr-sdes-bye-reason.bin': rrSdesByeReason,
  'valid-app.bin': app,
  'valid-transport-cc.bin': transportCc,
  'valid-remb.bin': remb,
  'valid-rr-xr.bin': rrXr,
  'valid-rr-sdes-padded.bin': rrSdesPadded,

  'invalid-runt-empty.bin': Buffer.alloc(0),
  'invalid-runt-3-bytes.bin': pli.subarray(0, 3),
  // SR whose length (1) leaves room for its sender SSRC only.
  'invalid-runt-sr-too-short.bin': bytes('80 c8 00 01', VIDEO_SSRC),
  // RTPFB with the sender SSRC but no media source SSRC.
  'invalid-runt-nack-no-media-ssrc.bin': bytes('81 cd 00 01', '00 00 00 01'),
  'invalid-bad_version-v1.bin': withByte(rrSdes, 0, 0x42),
  // Valid RR, then a packet whose first byte says version 0.
  'invalid-bad_version-second-packet.bin': withByte(rrSdes, 56, 0x01),
  // The SR + SDES compound cut in the middle of the SDES.
  'invalid-bad_length-truncated-compound.bin': srSdes.subarray(0, 70),
  // SR length says 255 words.
  'invalid-bad_length-sr-length-lies.bin': withByte(srSdes, 3, 0xff),
  // RR header whose length promises a body that is not there.
  'invalid-bad_length-header-only.bin': rrHeaderOnly,
  // A PLI followed by 2 stray bytes: the buffer is not whole packets.
  'invalid-bad_length-trailing-bytes.bin': bytes(pli, '00 00'),
  'invalid-bad_padding-zero-count.bin': withByte(rrSdesPadded, rrSdesPadded.length - 1, 0),
  // P=1 on an 8-byte RR whose last byte (the SSRC's) says 255 bytes of padding.
  'invalid-bad_padding-count-past-body.bin': bytes('a0 c9 00 01', '00 00 00 ff'),
  // P=1 on the first packet of a compound: RFC 3550 allows padding only on the last.
  'invalid-bad_padding-not-last.bin': bytes(
    'a0 c9 00 02', // V=2 P=1 RC=0 | RR | length 2
    '00 00 00 01', // SSRC
    '00 00 00 04', // padding, count 4
    sdesCname('00 00 00 01'),
  ),
  // RR says RC=3 but carries one block.
  'invalid-bad_count-rr-rc-lies.bin': bytes(
    '83 c9 00 07',
    '00 00 00 01',
    VIDEO_SSRC,
    '00 00 00 00 00 00 5a 4d 00 00 01 2c 81 a0 10 00 00 00 80 00',
  ),
  // SR says RC=2 but carries one block.
  'invalid-bad_count-sr-rc-lies.bin': withByte(srSdes, 0, 0x82),
  // SDES says SC=2 but carries one chunk.
  'invalid-bad_count-sdes-sc-lies.bin': withByte(sdesCname(VIDEO_SSRC), 0, 0x82),
  // SDES says SC=0 but carries a chunk.
  'invalid-bad_count-sdes-sc-zero.bin': withByte(sdesCname(VIDEO_SSRC), 0, 0x80),
  // BYE says SC=5 but has room for one SSRC.
  'invalid-bad_count-bye-sc-lies.bin': bytes('85 cb 00 01', VIDEO_SSRC),
  // CNAME item claims 64 bytes in a 28-byte packet.
  'invalid-malformed-sdes-item-runs-past.bin': withByte(sdesCname(VIDEO_SSRC), 9, 0x40),
  // A chunk whose items fill the packet with no END octet.
  'invalid-malformed-sdes-no-end.bin': bytes(
    '81 ca 00 03',
    VIDEO_SSRC,
    '01 06 61 62 63 64 65 66', // CNAME "abcdef", then the packet ends
  ),
  // Fill after END that is not null.
  'invalid-malformed-sdes-fill-not-null.bin': withByte(sdesCname(VIDEO_SSRC), 27, 0x41),
  // BYE reason claims 40 bytes in a 12-byte packet.
  'invalid-malformed-bye-reason-runs-past.bin': bytes('81 cb 00 02', VIDEO_SSRC, '28 61 62 63'),
  // A PLI has no FCI; this one carries a word of it.
  'invalid-malformed-pli-with-fci.bin': bytes(
    '81 ce 00 03',
    '00 00 00 01',
    VIDEO_SSRC,
    '00 00 00 00',
  ),
  // FIR whose FCI is half an entry.
  'invalid-malformed-fir-half-entry.bin': bytes(
    '84 ce 00 03',
    '00 00 00 01',
    '00 00 00 00',
    VIDEO_SSRC,
  ),
};

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFixtures('rtcp', rtcpFixtures);
  console.log(`wrote ${Object.keys(rtcpFixtures).length} RTCP fixtures`);
}
