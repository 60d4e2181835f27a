/**
 * Datagrams on their way out of one BatchSocket, gathered during an
 * event-loop turn and sent with one sendBatch (one sendmmsg on the native
 * path) when the owner flushes at the end of its batch, or at once when the
 * slab is full. An owner with no batch end of its own (a fan-out fed by
 * another socket's handler) asks for flushLater(): every such slab of the
 * thread is flushed in the check phase right after the poll phase that
 * filled it, as the RTSP frame batcher does for TCP viewers.
 *
 * push() copies the bytes: what a packet chain hands over may be a view of
 * the receive slab, or a buffer an SRTP engine reuses on its next call. The
 * slab, its offsets and its lengths are created once; nothing is allocated
 * per datagram or per flush.
 */
import type { BatchSocket, UdpDestination } from './batch-types.js';
import { flushAtTurnEnd } from './turn-end.js';

export interface SendSlabOptions {
  /** Datagrams held at most before a flush (1-1024). Default 64. */
  readonly datagrams?: number;
  /** Bytes held at most before a flush. Default 64 x 2048. */
  readonly bytes?: number;
  /** For an unconnected socket: where every datagram goes. */
  readonly destination?: UdpDestination;
}

export interface FlushResult {
  /** Datagrams the kernel took. */
  readonly taken: number;
  /** Datagrams it did not (a full buffer, a refusal): lost, for the owner to count. */
  readonly lost: number;
  /** Of those taken, the ones pushed as `measured` (a relay's RTP, not its RTCP), and their bytes. */
  readonly measured: number;
  readonly measuredBytes: number;
}

export class SendSlab {
  readonly #socket: BatchSocket;
  readonly #slab: Buffer;
  readonly #offsets: Int32Array;
  readonly #lengths: Int32Array;
  /** 1 for a datagram pushed as measured. */
  readonly #measured: Uint8Array;
  #measuredCount = 0;
  #measuredBytes = 0;
  readonly #destination: UdpDestination | undefined;
  #count = 0;
  #used = 0;
  /** Rewritten by each flush: read it before the next one (no object per flush). */
  readonly #result = { taken: 0, lost: 0, measured: 0, measuredBytes: 0 };
  /** Flushes the owner did not call itself (full slab, flushLater); their results go here. */
  readonly #onFullFlush: (result: FlushResult) => void;

  constructor(
    socket: BatchSocket,
    onFullFlush: (result: FlushResult) => void,
    options: SendSlabOptions = {},
  ) {
    const datagrams = options.datagrams ?? 64;
    const bytes = options.bytes ?? 64 * 2048;
    if (!Number.isInteger(datagrams) || datagrams < 1 || datagrams > 1024)
      throw new RangeError(`SendSlab: datagrams ${datagrams}: 1-1024`);
    if (!Number.isInteger(bytes) || bytes < 1) throw new RangeError(`SendSlab: bytes ${bytes}`);
    this.#socket = socket;
    this.#onFullFlush = onFullFlush;
    this.#slab = Buffer.allocUnsafeSlow(bytes);
    this.#offsets = new Int32Array(datagrams);
    this.#lengths = new Int32Array(datagrams);
    this.#measured = new Uint8Array(datagrams);
    this.#destination = options.destination;
  }

  /** Datagrams waiting for the next flush. */
  get pending(): number {
    return this.#count;
  }

  /**
   * Copies `datagram` in; flushes first when it does not fit. A datagram
   * longer than the whole slab is sent on its own, uncopied (sendBatch
   * completes or copies before it returns). `measured` marks the datagrams
   * the owner counts as sent (FlushResult.measured).
   */
  push(datagram: Uint8Array, measured = true): void {
    const length = datagram.length;
    if (this.#count === this.#offsets.length || this.#used + length > this.#slab.length) {
      this.#onFullFlush(this.flush());
    }
    if (length > this.#slab.length) {
      this.#offsets[0] = 0;
      this.#lengths[0] = length;
      this.#measured[0] = measured ? 1 : 0;
      this.#measuredCount = measured ? 1 : 0;
      this.#measuredBytes = measured ? length : 0;
      this.#onFullFlush(this.#send(datagram, 1));
      return;
    }
    this.#slab.set(datagram, this.#used);
    this.#offsets[this.#count] = this.#used;
    this.#lengths[this.#count] = length;
    this.#measured[this.#count] = measured ? 1 : 0;
    if (measured) {
      this.#measuredCount += 1;
      this.#measuredBytes += length;
    }
    this.#count += 1;
    this.#used += length;
  }

  /**
   * Sends what waits, as one batch; the slab is empty after it, whatever the
   * kernel took. The result object is reused by the next flush.
   */
  flush(): FlushResult {
    if (this.#count === 0) return this.#report(0, 0, 0, 0);
    const count = this.#count;
    this.#count = 0;
    this.#used = 0;
    return this.#send(this.#slab, count);
  }

  /** Flushes at the end of this event-loop turn (the check phase), with the thread's other slabs. */
  flushLater(): void {
    flushAtTurnEnd(this);
  }

  /** The end of the turn flushLater() asked for. */
  flushAtTurnEnd(): void {
    this.flushReported();
  }

  /** flush(), its result handed to the constructor's callback. */
  flushReported(): void {
    if (this.#count > 0) this.#onFullFlush(this.flush());
  }

  /** Drops what waits unsent (the socket is closing); returns how many. */
  discard(): number {
    const count = this.#count;
    this.#count = 0;
    this.#used = 0;
    this.#measuredCount = 0;
    this.#measuredBytes = 0;
    return count;
  }

  #send(buffer: Uint8Array, count: number): FlushResult {
    const measured = this.#measuredCount;
    const measuredBytes = this.#measuredBytes;
    this.#measuredCount = 0;
    this.#measuredBytes = 0;
    if (this.#socket.closed) return this.#report(0, count, 0, 0);
    let taken: number;
    try {
      taken = this.#socket.sendBatch(
        buffer,
        this.#offsets,
        this.#lengths,
        count,
        this.#destination,
      );
    } catch {
      // Closed under us between the check and the send: nothing went out.
      return this.#report(0, count, 0, 0);
    }
    if (taken === count) return this.#report(taken, 0, measured, measuredBytes);
    // Which ones the kernel refused is not known: those taken are counted as the first `taken`.
    let takenMeasured = 0;
    let takenBytes = 0;
    for (let i = 0; i < taken; i++) {
      if (this.#measured[i] === 1) {
        takenMeasured += 1;
        takenBytes += this.#lengths[i] ?? 0;
      }
    }
    return this.#report(taken, count - taken, takenMeasured, takenBytes);
  }

  #report(taken: number, lost: number, measured: number, measuredBytes: number): FlushResult {
    const result = this.#result;
    result.taken = taken;
    result.lost = lost;
    result.measured = measured;
    result.measuredBytes = measuredBytes;
    return result;
  }
}
