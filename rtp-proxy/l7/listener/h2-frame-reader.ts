/**
 * Splits an HTTP/2 byte stream into frame headers (RFC 9113 section 4.1),
 * across reads of any size, without copying payloads: the frame guard reads
 * both directions of a connection with it. A frame's payload is skipped,
 * except its first few bytes where the caller asks for them (an RST_STREAM's
 * error code).
 */

export const FRAME_HEADER_LENGTH = 9;

export interface FrameHeader {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly length: number;
}

/** The one header object a reader fills for each frame it hands over. */
interface MutableFrameHeader {
  type: number;
  flags: number;
  streamId: number;
  length: number;
}

const NO_PAYLOAD = Buffer.alloc(0);

/**
 * Told each frame in order; false stops the reading (the connection is being
 * closed). `header` is reused for the next frame: copy what must outlive the call.
 */
export type OnFrame = (header: FrameHeader, payload: Buffer) => boolean;

export class FrameReader {
  /** Bytes still to skip: a preface first, then the rest of the current frame's payload. */
  #skip: number;
  /** A frame header split across reads. */
  #partial: Buffer | undefined;
  /** A frame whose first payload bytes are wanted, until they are all here. */
  #held: { readonly header: FrameHeader; readonly wanted: number; got: Buffer } | undefined;
  readonly #payloadWanted: (header: FrameHeader) => number;
  /** Filled in place for every frame: no object per frame on a connection's byte path. */
  readonly #header: MutableFrameHeader = { type: 0, flags: 0, streamId: 0, length: 0 };

  /**
   * `skipFirst`: bytes before the first frame (a client's 24-byte preface);
   * `payloadWanted`: how many of a frame's first payload bytes to hand over (0: none).
   */
  constructor(skipFirst: number, payloadWanted: (header: FrameHeader) => number = () => 0) {
    this.#skip = skipFirst;
    this.#payloadWanted = payloadWanted;
  }

  /** false once `onFrame` said stop; nothing more is read then. */
  read(chunk: Buffer, onFrame: OnFrame): boolean {
    let at = 0;
    let bytes = chunk;
    if (this.#partial !== undefined) {
      bytes = Buffer.concat([this.#partial, chunk]);
      this.#partial = undefined;
    }
    while (at < bytes.length) {
      const held = this.#held;
      if (held !== undefined) {
        const taken = Math.min(held.wanted - held.got.length, bytes.length - at);
        held.got = Buffer.concat([held.got, bytes.subarray(at, at + taken)]);
        at += taken;
        if (held.got.length < held.wanted) return true;
        this.#held = undefined;
        if (!onFrame(held.header, held.got)) return false;
        continue;
      }
      if (this.#skip > 0) {
        const skipped = Math.min(this.#skip, bytes.length - at);
        this.#skip -= skipped;
        at += skipped;
        continue;
      }
      if (bytes.length - at < FRAME_HEADER_LENGTH) {
        this.#partial = Buffer.from(bytes.subarray(at));
        return true;
      }
      const header = this.#header;
      header.length = bytes.readUIntBE(at, 3);
      header.type = bytes[at + 3] ?? 0;
      header.flags = bytes[at + 4] ?? 0;
      header.streamId = bytes.readUInt32BE(at + 5) & 0x7fff_ffff;
      at += FRAME_HEADER_LENGTH;
      const wanted = Math.min(this.#payloadWanted(header), header.length);
      this.#skip = header.length - wanted;
      if (wanted > 0) {
        // Rare (an RST_STREAM's code): this header outlives the read, so it is copied.
        this.#held = { header: { ...header }, wanted, got: NO_PAYLOAD };
        continue;
      }
      if (!onFrame(header, NO_PAYLOAD)) return false;
    }
    return true;
  }
}
