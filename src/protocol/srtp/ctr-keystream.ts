/**
 * AES in counter mode as SRTP uses it (RFC 3711 §4.1.1), from one AES-ECB
 * cipher kept for the session: a packet's keystream is AES_k(IV + j) for its
 * 16-byte blocks j, made in a single update() call. Creating a counter-mode
 * cipher per packet instead allocated a native object per packet, and the
 * garbage collection of those objects set the relay's SRTP p99 latency.
 */
import { createCipheriv, type Cipher } from 'node:crypto';

const BLOCK = 16;

export class CtrKeystream {
  readonly #ecb: Cipher;
  #counters = Buffer.alloc(BLOCK * 128);
  #view = new DataView(this.#counters.buffer, this.#counters.byteOffset, this.#counters.length);

  constructor(key: Buffer) {
    this.#ecb = createCipheriv(`aes-${key.length * 8}-ecb`, key, null);
    this.#ecb.setAutoPadding(false);
  }

  /**
   * Writes input XOR keystream to out[outOffset...]. SRTP IVs end in 16 zero
   * bits, which leaves room for the block counter (at most 2^16 blocks).
   */
  xor(iv: Buffer, input: Buffer, out: Buffer, outOffset: number): void {
    const length = input.length;
    if (length === 0) return;
    const blocks = Math.ceil(length / BLOCK);
    if (blocks * BLOCK > this.#counters.length) this.#grow(blocks * BLOCK);
    const view = this.#view;
    const w0 = iv.readUInt32BE(0);
    const w1 = iv.readUInt32BE(4);
    const w2 = iv.readUInt32BE(8);
    const w3 = iv.readUInt32BE(12);
    for (let j = 0, offset = 0; j < blocks; j += 1, offset += BLOCK) {
      view.setUint32(offset, w0);
      view.setUint32(offset + 4, w1);
      view.setUint32(offset + 8, w2);
      view.setUint32(offset + 12, (w3 + j) >>> 0);
    }
    const keystream = this.#ecb.update(this.#counters.subarray(0, blocks * BLOCK));
    for (let i = 0; i < length; i += 1) {
      out[outOffset + i] = (input[i] ?? 0) ^ (keystream[i] ?? 0);
    }
  }

  #grow(bytes: number): void {
    this.#counters = Buffer.alloc(bytes);
    this.#view = new DataView(this.#counters.buffer, this.#counters.byteOffset, bytes);
  }
}
