/**
 * Packets for the SRTP tests: hex fixtures, RTP/RTCP builders and a seeded
 * random source, so that a failing random case can be replayed from its seed.
 */

export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

/** mulberry32: small, fast, and good enough to pick test cases. */
export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A uint32. */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [0, bound). */
  below(bound: number): number {
    return Math.floor((this.next() / 0x1_0000_0000) * bound);
  }

  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out.writeUInt8(this.next() & 0xff, i);
    return out;
  }
}

export interface RtpFields {
  readonly seq: number;
  readonly ssrc: number;
  readonly timestamp?: number;
  readonly payloadType?: number;
  readonly marker?: boolean;
  readonly csrcs?: readonly number[];
  /** Header extension: profile and data (a multiple of 4 bytes). */
  readonly extension?: { readonly profile: number; readonly data: Buffer };
  readonly payload?: Buffer;
  /** RFC 3550 §5.1 padding: this many bytes (the last one holding the count). */
  readonly padding?: number;
}

export function rtpPacket(fields: RtpFields): Buffer {
  const csrcs = fields.csrcs ?? [];
  const extension = fields.extension;
  const payload = fields.payload ?? Buffer.alloc(0);
  const padding = fields.padding ?? 0;
  const extensionLength = extension === undefined ? 0 : 4 + extension.data.length;
  const header = Buffer.alloc(12 + csrcs.length * 4 + extensionLength);
  header.writeUInt8(
    0x80 | (padding > 0 ? 0x20 : 0) | (extension === undefined ? 0 : 0x10) | csrcs.length,
    0,
  );
  header.writeUInt8(((fields.marker ?? false) ? 0x80 : 0) | (fields.payloadType ?? 96), 1);
  header.writeUInt16BE(fields.seq, 2);
  header.writeUInt32BE(fields.timestamp ?? 0x12345678, 4);
  header.writeUInt32BE(fields.ssrc, 8);
  csrcs.forEach((csrc, i) => header.writeUInt32BE(csrc, 12 + i * 4));
  if (extension !== undefined) {
    const at = 12 + csrcs.length * 4;
    header.writeUInt16BE(extension.profile, at);
    header.writeUInt16BE(extension.data.length / 4, at + 2);
    extension.data.copy(header, at + 4);
  }
  const paddingBytes = Buffer.alloc(padding);
  if (padding > 0) paddingBytes.writeUInt8(padding, padding - 1);
  return Buffer.concat([header, payload, paddingBytes]);
}

/** A random RTP packet: CSRCs, extension (profile 0x1234: werift keeps unknown profiles as raw bytes). */
export function randomRtpPacket(
  random: SeededRandom,
  fields: { readonly seq: number; readonly ssrc: number; readonly maxPayload?: number },
): Buffer {
  const csrcs = Array.from({ length: random.below(4) }, () => random.next());
  const extension =
    random.below(2) === 0
      ? undefined
      : { profile: 0x1234, data: random.bytes(4 * (1 + random.below(4))) };
  return rtpPacket({
    seq: fields.seq,
    ssrc: fields.ssrc,
    timestamp: random.next(),
    payloadType: random.below(128),
    marker: random.below(2) === 1,
    csrcs,
    ...(extension === undefined ? {} : { extension }),
    payload: random.bytes(random.below((fields.maxPayload ?? 1200) + 1)),
  });
}

/** An RTCP receiver report from `ssrc` whose body is `words` random words (6 per report block). */
export function rtcpPacket(random: SeededRandom, ssrc: number, words = 6): Buffer {
  const packet = Buffer.concat([Buffer.alloc(8), random.bytes(words * 4)]);
  packet.writeUInt8(0x80 | Math.min(31, Math.floor(words / 6)), 0);
  packet.writeUInt8(201, 1);
  packet.writeUInt16BE(1 + words, 2);
  packet.writeUInt32BE(ssrc, 4);
  return packet;
}
