/**
 * BatchSocket over the native addon (native/udp-batch): one recvmmsg per
 * readable event into a slab created once, one sendmmsg per sendBatch. The
 * addon allocates nothing per datagram; this wrapper allocates a Buffer view
 * only when the handler asks for a datagram, and decodes a source only when
 * asked. Truncated datagrams (length -1 from the addon) are skipped here
 * through an index table filled once per batch, so the handler sees only
 * whole datagrams.
 */
import { createRequire } from 'node:module';
import { isIPv6 } from 'node:net';
import {
  checkOptions,
  checkSendArguments,
  MutableCounters,
  type BatchHandler,
  type BatchSocket,
  type BatchSocketCounters,
  type BatchSocketOptions,
  type UdpBatch,
  type UdpDestination,
  type UdpSource,
} from './batch-types.js';

interface NativeHandle {
  readonly port: number;
  readonly slab: ArrayBuffer;
  readonly lengths: Int32Array;
  readonly sources: Uint8Array;
}

interface UdpBatchAddon {
  open(
    family: 4 | 6,
    address: string,
    port: number,
    options: Required<BatchSocketOptions>,
    onBatch: (count: number) => void,
  ): NativeHandle;
  connect(handle: NativeHandle, address: string, port: number): void;
  send(
    handle: NativeHandle,
    buffer: Uint8Array,
    offsets: Int32Array,
    lengths: Int32Array,
    count: number,
    destination?: { family: 4 | 6; address: string; port: number },
  ): number;
  close(handle: NativeHandle): void;
  callbackErrors(handle: NativeHandle): number;
}

/** Relative to this file in src/ and in dist/src/ alike. */
const ADDON_PATHS = [
  '../../../native/udp-batch/build/Release/udp_batch.node',
  '../../../../native/udp-batch/build/Release/udp_batch.node',
];

let loaded: { addon: UdpBatchAddon } | { error: string } | undefined;

/** The addon, or why it cannot be loaded (not built, wrong ABI...). */
export function loadUdpBatchAddon(): { addon: UdpBatchAddon } | { error: string } {
  if (loaded !== undefined) return loaded;
  const require = createRequire(import.meta.url);
  const errors: string[] = [];
  for (const path of ADDON_PATHS) {
    try {
      loaded = { addon: require(path) as UdpBatchAddon };
      return loaded;
    } catch (error) {
      errors.push(error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error));
    }
  }
  loaded = { error: errors.join('; ') };
  return loaded;
}

function decodeSource(sources: Uint8Array, index: number): UdpSource {
  const at = index * 20;
  const port = ((sources[at + 2] ?? 0) << 8) | (sources[at + 3] ?? 0);
  if (sources[at] === 4) {
    return { family: 4, address: sources.subarray(at + 4, at + 8).join('.'), port };
  }
  const groups: string[] = [];
  for (let g = 0; g < 8; g++) {
    groups.push(
      (((sources[at + 4 + 2 * g] ?? 0) << 8) | (sources[at + 5 + 2 * g] ?? 0)).toString(16),
    );
  }
  return { family: 6, address: groups.join(':'), port };
}

export class NativeBatchSocket implements BatchSocket {
  readonly kind = 'native' as const;
  readonly #addon: UdpBatchAddon;
  readonly #options: Required<BatchSocketOptions>;
  readonly #counters = new MutableCounters();
  #handle: NativeHandle | undefined;
  #slab = new ArrayBuffer(0);
  #lengths: Int32Array = new Int32Array(0);
  #sources: Uint8Array = new Uint8Array(0);
  #handler: BatchHandler | undefined;
  #family: 4 | 6 = 4;
  #closed = false;
  /** Indices into the slab of this batch's whole datagrams. */
  #index = new Int32Array(0);
  /** The one batch object, its count rewritten for each batch (0 outside the handler). */
  readonly #batch: { count: number } & Omit<UdpBatch, 'count'>;

  constructor(addon: UdpBatchAddon, options: BatchSocketOptions = {}) {
    this.#addon = addon;
    this.#options = checkOptions(options);
    this.#batch = {
      count: 0,
      datagram: (i) => this.#datagram(i),
      source: (i) => decodeSource(this.#sources, this.#slot(i)),
    };
  }

  get counters(): BatchSocketCounters {
    return this.#counters;
  }

  /** Exceptions that reached the addon (the wrapper catches first: expected 0). */
  get addonCallbackErrors(): number {
    return this.#handle === undefined ? 0 : this.#addon.callbackErrors(this.#handle);
  }

  bind(address: string, port: number): Promise<number> {
    if (this.#closed || this.#handle !== undefined)
      throw new Error('BatchSocket: already bound or closed');
    this.#family = isIPv6(address) ? 6 : 4;
    const handle = this.#addon.open(this.#family, address, port, this.#options, (count) => {
      this.#deliver(count);
    });
    this.#handle = handle;
    this.#slab = handle.slab;
    this.#lengths = handle.lengths;
    this.#sources = handle.sources;
    this.#index = new Int32Array(this.#options.batch);
    return Promise.resolve(handle.port);
  }

  connect(address: string, port: number): Promise<void> {
    this.#addon.connect(this.#bound(), address, port);
    return Promise.resolve();
  }

  onBatch(handler: BatchHandler): void {
    this.#handler = handler;
  }

  sendBatch(
    buffer: Uint8Array,
    offsets: Int32Array,
    lengths: Int32Array,
    count: number,
    destination?: UdpDestination,
  ): number {
    checkSendArguments(buffer, offsets, lengths, count);
    const target = destination === undefined ? undefined : { family: this.#family, ...destination };
    const sent = this.#addon.send(this.#bound(), buffer, offsets, lengths, count, target);
    this.#counters.sent += sent;
    this.#counters.sendDropped += count - sent;
    return sent;
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    if (this.#handle === undefined) return Promise.resolve();
    this.#addon.close(this.#handle);
    // The fd is closed in uv_close's callback, which runs after this turn's
    // check phase: two immediates later it is closed whatever phase we are in.
    return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
  }

  #bound(): NativeHandle {
    if (this.#closed) throw new Error('BatchSocket: closed');
    if (this.#handle === undefined) throw new Error('BatchSocket: not bound');
    return this.#handle;
  }

  #deliver(count: number): void {
    const lengths = this.#lengths;
    let whole = 0;
    for (let i = 0; i < count; i++) {
      if ((lengths[i] ?? -1) < 0) this.#counters.truncated++;
      else this.#index[whole++] = i;
    }
    if (whole === 0 || this.#handler === undefined) return;
    this.#batch.count = whole;
    this.#counters.received += whole;
    try {
      this.#handler(this.#batch);
    } catch {
      this.#counters.handlerErrors++;
    } finally {
      this.#batch.count = 0;
    }
  }

  #slot(i: number): number {
    const slot =
      Number.isInteger(i) && i >= 0 && i < this.#batch.count ? this.#index[i] : undefined;
    if (slot === undefined)
      throw new RangeError(`datagram ${i} is not in this batch (${this.#batch.count})`);
    return slot;
  }

  #datagram(i: number): Buffer {
    const slot = this.#slot(i);
    return Buffer.from(this.#slab, slot * this.#options.maxDatagram, this.#lengths[slot] ?? 0);
  }
}
