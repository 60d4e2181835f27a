/**
 * Interleaved frames for TCP viewers, built once and written in batches.
 *
 * Profiling the fan-out showed the proxy's time going to one socket write
 * (one system call) per viewer per packet. Two things cut that down:
 * - a packet's `$`-frame is built once per channel and shared by every
 *   viewer on that channel (the bytes are identical);
 * - frames for one connection are gathered while the event loop takes in a
 *   burst of packets (a key frame is dozens of datagrams read in one poll
 *   phase) and written with one call in the check phase right after it, so
 *   the added delay is that of the burst, not a timer's.
 */
import { interleavedFrame } from '../../../src/protocol/rtsp/index.js';

/** What a connection offers interleaved transports: framed writes with backpressure. */
export interface InterleavedWriter {
  /** Bytes queued in user space, not yet taken by the kernel. */
  readonly writableLength: number;
  write(frame: Buffer): void;
}

interface Pending {
  frames: Buffer[];
  bytes: number;
}

export class FrameBatcher {
  readonly #pending = new Map<InterleavedWriter, Pending>();
  readonly #frames = new Map<number, Buffer>();
  #framesOf: Buffer | undefined;
  #scheduled = false;

  /** The frame of `packet` on `channel`; the same Buffer for every caller of one packet. */
  frame(channel: number, packet: Buffer): Buffer {
    if (packet !== this.#framesOf) {
      this.#framesOf = packet;
      this.#frames.clear();
    }
    let frame = this.#frames.get(channel);
    if (frame === undefined) {
      frame = interleavedFrame(channel, packet);
      this.#frames.set(channel, frame);
    }
    return frame;
  }

  /** Bytes waiting for `writer` in this batch and in its socket. */
  backlog(writer: InterleavedWriter): number {
    return writer.writableLength + (this.#pending.get(writer)?.bytes ?? 0);
  }

  enqueue(writer: InterleavedWriter, frame: Buffer): void {
    const pending = this.#pending.get(writer);
    if (pending === undefined) this.#pending.set(writer, { frames: [frame], bytes: frame.length });
    else {
      pending.frames.push(frame);
      pending.bytes += frame.length;
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#flush();
      });
    }
  }

  #flush(): void {
    this.#scheduled = false;
    for (const [writer, { frames, bytes }] of this.#pending) {
      writer.write(frames.length === 1 ? (frames[0] ?? EMPTY) : Buffer.concat(frames, bytes));
    }
    this.#pending.clear();
    this.#framesOf = undefined;
    this.#frames.clear();
  }
}

const EMPTY = Buffer.alloc(0);

/** One per process: batching works across every path and viewer. */
export const frameBatcher = new FrameBatcher();
