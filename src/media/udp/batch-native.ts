/**
 * BatchSocket over the native addon (native/udp-batch): one recvmmsg per
 * readable event into a slab created once, one sendmmsg per sendBatch. The
 * addon allocates nothing per datagram; this wrapper allocates a Buffer view
 * only when the handler asks for a datagram, and decodes a source only when
 * asked. Truncated datagrams (length -1 from the addon) are skipped here
 * through an index table filled once per batch, so the handler sees only
 * whole datagrams.
 */
import { isIPv6 } from 'node:net';
import {
  checkOptions,
  checkSendArguments,
  MutableCounters,
  type BatchHandler,
  type BatchSocket,
  type BatchSocketCounters,
  type BatchSocketOptions,
  type ErrorHandler,
  type UdpBatch,
  type UdpDestination,
  type UdpSource,
} from './batch-types.js';
import { addonLoader } from '../../shared/native-addon.js';

/**
 * Read-only, non-configurable properties: the addon writes each batch into
 * these buffers. Transferring one away (postMessage, structuredClone) makes
 * the addon close the socket with onBatch(0, 'ERR_BUFFER_DETACHED'), reported
 * through onError: copy a datagram out of the slab rather than transfer it.
 */
interface NativeHandle {
  readonly port: number;
  readonly slab: ArrayBuffer;
  readonly lengths: Int32Array;
  readonly sources: Uint8Array;
  readonly ages: Float64Array;
}

interface UdpBatchAddon {
  open(
    family: 4 | 6,
    address: string,
    port: number,
    options: Required<BatchSocketOptions>,
    onBatch: (count: number, error?: string) => void,
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
  /** The errno name that ended the last short send, once; undefined when none. */
  takeSendError(handle: NativeHandle): string | undefined;
}

/** Relative to this file in src/ and in dist/src/ alike. */
const ADDON_PATHS = [
  '../../../native/udp-batch/build/Release/udp_batch.node',
  '../../../../native/udp-batch/build/Release/udp_batch.node',
];

/** The addon, or why it cannot be loaded (not built, wrong ABI...). */
export const loadUdpBatchAddon = addonLoader<UdpBatchAddon>(import.meta.url, ADDON_PATHS);

/**
 * An IPv6 address as libuv prints it (BIND's inet_ntop6, which node:dgram's
 * RemoteInfo uses): the longest run of two or more zero groups as '::', an
 * IPv4-mapped or -compatible address with its dotted tail. The latch
 * compares these strings with node:dgram's and the config's, so they must
 * be the same text.
 */
function formatIpv6(bytes: Uint8Array, at: number): string {
  const words: number[] = [];
  for (let g = 0; g < 8; g++)
    words.push(((bytes[at + 2 * g] ?? 0) << 8) | (bytes[at + 2 * g + 1] ?? 0));
  let bestBase = -1;
  let bestLength = 0;
  let base = -1;
  for (let g = 0; g <= 8; g++) {
    if (g < 8 && words[g] === 0) {
      if (base === -1) base = g;
    } else if (base !== -1) {
      if (g - base > bestLength) {
        bestBase = base;
        bestLength = g - base;
      }
      base = -1;
    }
  }
  if (bestLength < 2) bestBase = -1;
  let text = '';
  for (let g = 0; g < 8; g++) {
    if (bestBase !== -1 && g >= bestBase && g < bestBase + bestLength) {
      if (g === bestBase) text += ':';
      continue;
    }
    if (g !== 0) text += ':';
    if (
      g === 6 &&
      bestBase === 0 &&
      (bestLength === 6 || (bestLength === 5 && words[5] === 0xffff))
    ) {
      text += `${bytes[at + 12] ?? 0}.${bytes[at + 13] ?? 0}.${bytes[at + 14] ?? 0}.${bytes[at + 15] ?? 0}`;
      return text;
    }
    text += (words[g] ?? 0).toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLength === 8) text += ':';
  return text;
}

/** Decodes the addon's 20-byte source record (family, 0, port BE, address). */
export function decodeSource(sources: Uint8Array, index: number): UdpSource {
  const at = index * 20;
  const port = ((sources[at + 2] ?? 0) << 8) | (sources[at + 3] ?? 0);
  if (sources[at] === 4) {
    return {
      family: 4,
      address: `${sources[at + 4] ?? 0}.${sources[at + 5] ?? 0}.${sources[at + 6] ?? 0}.${sources[at + 7] ?? 0}`,
      port,
    };
  }
  return { family: 6, address: formatIpv6(sources, at + 4), port };
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
  #ages: Float64Array = new Float64Array(0);
  #handler: BatchHandler | undefined;
  #errorHandler: ErrorHandler | undefined;
  #family: 4 | 6 = 4;
  /**
   * The last source decoded and its record: a media socket hears one peer
   * (or a few), so the same source is decoded once, not per datagram.
   */
  readonly #cachedRecord = new Uint8Array(20);
  #cachedSource: UdpSource | undefined;
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
      source: (i) => this.#source(this.#slot(i)),
      ageMs: (i) => this.#ages[this.#slot(i)] ?? 0,
    };
  }

  get counters(): BatchSocketCounters {
    return this.#counters;
  }

  /** Exceptions that reached the addon (the wrapper catches first: expected 0). */
  get addonCallbackErrors(): number {
    return this.#handle === undefined ? 0 : this.#addon.callbackErrors(this.#handle);
  }

  get port(): number {
    return this.#handle?.port ?? 0;
  }

  get closed(): boolean {
    return this.#closed;
  }

  bind(address: string, port: number): Promise<number> {
    if (this.#closed || this.#handle !== undefined)
      throw new Error('BatchSocket: already bound or closed');
    this.#family = isIPv6(address) ? 6 : 4;
    const handle = this.#addon.open(this.#family, address, port, this.#options, (count, error) => {
      if (error !== undefined) this.#reportError(error, 'receive');
      if (count > 0) this.#deliver(count);
    });
    this.#handle = handle;
    this.#slab = handle.slab;
    this.#lengths = handle.lengths;
    this.#sources = handle.sources;
    this.#ages = handle.ages;
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

  get batchHandler(): BatchHandler | undefined {
    return this.#handler;
  }

  onError(handler: ErrorHandler): void {
    this.#errorHandler = handler;
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
    const handle = this.#bound();
    const sent = this.#addon.send(handle, buffer, offsets, lengths, count, target);
    this.#counters.sent += sent;
    this.#counters.sendDropped += count - sent;
    if (sent < count) {
      const code = this.#addon.takeSendError(handle);
      if (code !== undefined) this.#reportError(code, 'send');
    }
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

  #reportError(code: string, during: 'send' | 'receive'): void {
    const handler = this.#errorHandler;
    if (handler === undefined || this.#closed) return;
    try {
      handler({ code, message: `${during} ${code}`, late: during === 'receive' });
    } catch {
      this.#counters.handlerErrors++;
    }
  }

  #source(slot: number): UdpSource {
    const sources = this.#sources;
    const at = slot * 20;
    const cached = this.#cachedRecord;
    let same = this.#cachedSource !== undefined;
    for (let b = 0; same && b < 20; b++) same = cached[b] === sources[at + b];
    if (same && this.#cachedSource !== undefined) return this.#cachedSource;
    for (let b = 0; b < 20; b++) cached[b] = sources[at + b] ?? 0;
    this.#cachedSource = decodeSource(sources, slot);
    return this.#cachedSource;
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
