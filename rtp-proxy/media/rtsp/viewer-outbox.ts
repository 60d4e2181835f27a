/**
 * What the main thread sends one media worker's viewers during one
 * event-loop turn, posted as one message at the end of the turn (the check
 * phase, as SendSlab.flushLater does for sockets): each distinct packet
 * copied once into a slab that is transferred, not cloned, and one plan
 * entry [viewer, kind, packet index] per delivery (viewer-messages.ts).
 *
 * The path hands a packet to its viewers one after another, so "the same
 * packet as the last one" is what finds a packet already in the slab. It is
 * checked by identity and by its length and RTP sequence number: a source
 * that rewrote one Buffer in place for its next packet is not taken for a
 * repeat.
 */
import type { MessagePort } from 'node:worker_threads';
import { flushAtTurnEnd } from '../../../src/media/udp/index.js';
import { SEND_RTP, type ToViewerWorker } from './viewer-messages.js';

/** A turn's first slab; it doubles when a turn needs more (a key frame to many viewers). */
const INITIAL_SLAB_BYTES = 64 * 1024;
const INITIAL_PACKETS = 64;

type Words = Uint32Array<ArrayBuffer>;

export class ViewerOutbox {
  #port: MessagePort | undefined;
  #slab: Uint8Array<ArrayBuffer> = new Uint8Array(INITIAL_SLAB_BYTES);
  #used = 0;
  #offsets: Words = new Uint32Array(INITIAL_PACKETS);
  #lengths: Words = new Uint32Array(INITIAL_PACKETS);
  #packets = 0;
  #plan: Words = new Uint32Array(INITIAL_PACKETS * 3);
  #entries = 0;
  #last: Uint8Array | undefined;
  #lastSequence = -1;

  /** Where the turn's message goes; undefined while the worker is down (sends are then refused). */
  get port(): MessagePort | undefined {
    return this.#port;
  }

  set port(port: MessagePort | undefined) {
    // What was gathered for the worker that is gone goes nowhere.
    this.#reset();
    this.#port = port;
  }

  /** Adds one delivery; false when there is no worker to take it. */
  push(viewer: number, kind: number, packet: Uint8Array): boolean {
    if (this.#port === undefined) return false;
    const index = this.#indexOf(packet, kind);
    if (this.#entries * 3 + 3 > this.#plan.length)
      this.#plan = grown(this.#plan, this.#plan.length * 2);
    const at = this.#entries * 3;
    this.#plan[at] = viewer;
    this.#plan[at + 1] = kind;
    this.#plan[at + 2] = index;
    this.#entries += 1;
    // Asked once per turn, by its first delivery: not a set lookup per packet and viewer.
    if (this.#entries === 1) flushAtTurnEnd(this);
    return true;
  }

  /** The end of the turn push() asked for. */
  flushAtTurnEnd(): void {
    this.flush();
  }

  /** Posts what the turn gathered (a viewer leaving calls it first, so its last packets go). */
  flush(): void {
    const port = this.#port;
    if (port === undefined || this.#entries === 0) {
      this.#reset();
      return;
    }
    const slab = this.#slab.buffer.slice(0, this.#used);
    const offsets = this.#offsets.slice(0, this.#packets);
    const lengths = this.#lengths.slice(0, this.#packets);
    const plan = this.#plan.slice(0, this.#entries * 3);
    const message: ToViewerWorker = {
      kind: 'sends',
      slab,
      offsets,
      lengths,
      plan,
    };
    port.postMessage(message, [slab, offsets.buffer, lengths.buffer, plan.buffer]);
    this.#reset();
  }

  #indexOf(packet: Uint8Array, kind: number): number {
    const sequence =
      kind === SEND_RTP && packet.length >= 4 ? ((packet[2] ?? 0) << 8) | (packet[3] ?? 0) : -2;
    if (
      packet === this.#last &&
      sequence === this.#lastSequence &&
      this.#packets > 0 &&
      this.#lengths[this.#packets - 1] === packet.length
    ) {
      return this.#packets - 1;
    }
    if (this.#used + packet.length > this.#slab.length) {
      let size = this.#slab.length * 2;
      while (size < this.#used + packet.length) size *= 2;
      const slab = new Uint8Array(size);
      slab.set(this.#slab.subarray(0, this.#used));
      this.#slab = slab;
    }
    if (this.#packets === this.#offsets.length) {
      this.#offsets = grown(this.#offsets, this.#offsets.length * 2);
      this.#lengths = grown(this.#lengths, this.#lengths.length * 2);
    }
    this.#slab.set(packet, this.#used);
    this.#offsets[this.#packets] = this.#used;
    this.#lengths[this.#packets] = packet.length;
    this.#used += packet.length;
    this.#last = packet;
    this.#lastSequence = sequence;
    this.#packets += 1;
    return this.#packets - 1;
  }

  #reset(): void {
    this.#used = 0;
    this.#packets = 0;
    this.#entries = 0;
    this.#last = undefined;
    this.#lastSequence = -1;
  }
}

function grown(array: Words, size: number): Words {
  const larger = new Uint32Array(size);
  larger.set(array);
  return larger;
}
