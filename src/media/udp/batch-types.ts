/**
 * The interface of a batched UDP socket (issue 20): datagrams arrive as one
 * batch per event-loop turn, not one callback each, and leave as one send
 * per batch. Two implementations share it: the native addon
 * (recvmmsg/sendmmsg, batch-native.ts) and node:dgram (batch-dgram.ts), the
 * fallback where the addon is not built. Callers cannot tell them apart
 * except by `kind` and speed.
 */

export interface UdpSource {
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number;
}

export interface UdpDestination {
  readonly address: string;
  readonly port: number;
}

/**
 * What arrived since the last turn. Datagrams longer than maxDatagram are
 * not in it (dropped and counted as `truncated`).
 *
 * `datagram(i)` is a view into memory the socket reuses for the next batch:
 * it is valid only while the handler runs. Copy what must outlive it.
 */
export interface UdpBatch {
  readonly count: number;
  datagram(index: number): Buffer;
  /** Decoded on demand: a relay with a connected peer never pays for it. */
  source(index: number): UdpSource;
  /**
   * How long (ms) the datagram waited between its arrival and this batch:
   * natively from the kernel's receive timestamp, with node:dgram from its
   * 'message' event; 0 when unknown. Arrival = now - ageMs: jitter is
   * measured on arrival times, not on when a busy loop got to a batch.
   */
  ageMs(index: number): number;
}

export interface BatchSocketCounters {
  /** Datagrams handed to the handler. */
  readonly received: number;
  /** Datagrams longer than maxDatagram, dropped. */
  readonly truncated: number;
  /** Datagrams the kernel took. */
  readonly sent: number;
  /** Datagrams sendBatch was asked for that the kernel did not take. */
  readonly sendDropped: number;
  /** Exceptions thrown by the batch handler, caught and counted. */
  readonly handlerErrors: number;
}

export interface BatchSocketOptions {
  /** Datagrams per batch, 1-64 (the native receive slab holds this many). */
  readonly batch?: number;
  /** Longest datagram accepted, 1-65535; longer ones are dropped and counted. */
  readonly maxDatagram?: number;
  readonly recvBufferBytes?: number;
  readonly sendBufferBytes?: number;
}

export type BatchHandler = (batch: UdpBatch) => void;

/**
 * An error the kernel reported for the socket: an ICMP error queued on it
 * (a connected socket's peer has no port open: ECONNREFUSED), or why a
 * sendBatch fell short (EMSGSIZE, EAGAIN...). Created only when one happens.
 */
export interface UdpSocketError {
  readonly code: string;
  readonly message: string;
  /**
   * false: reported from inside sendBatch, whose return value already shows
   * the datagrams it cost. true: reported afterwards, outside any call (an
   * ICMP error the kernel queued on the socket, or node:dgram's late send
   * failure), a loss sendBatch's return value did not show.
   */
  readonly late: boolean;
}

export type ErrorHandler = (error: UdpSocketError) => void;

export interface BatchSocket {
  readonly kind: 'native' | 'dgram';
  readonly counters: BatchSocketCounters;
  /** The bound port (0 before bind). */
  readonly port: number;
  /** True once close() was called: nothing is received or sent any more. */
  readonly closed: boolean;
  /** Binds to address:port (0: any free port); resolves with the bound port. */
  bind(address: string, port: number): Promise<number>;
  /** Fixes the peer (or changes it): sendBatch without a destination goes there. */
  connect(address: string, port: number): Promise<void>;
  /** The handler receives every batch; an exception it throws is counted, never thrown on. */
  onBatch(handler: BatchHandler): void;
  /** The handler in force (a test or a tap may wrap it with onBatch). */
  readonly batchHandler: BatchHandler | undefined;
  /**
   * The handler hears the socket's errors (see UdpSocketError); sendBatch's
   * own shortfall is reported through it too, after sendBatch counted it.
   */
  onError(handler: ErrorHandler): void;
  /**
   * Sends `count` datagrams, the i-th being buffer[offsets[i], offsets[i] + lengths[i]).
   * Returns how many the kernel took; the rest are counted in sendDropped.
   * Throws RangeError (sending nothing) when an offset/length lies outside
   * the buffer or count exceeds the arrays. A destination is for an
   * unconnected socket (node:dgram refuses one on a connected socket).
   */
  sendBatch(
    buffer: Uint8Array,
    offsets: Int32Array,
    lengths: Int32Array,
    count: number,
    destination?: UdpDestination,
  ): number;
  /** Stops delivery at once (no handler call after it); resolves once the port is free. */
  close(): Promise<void>;
}

export const DEFAULT_BATCH = 32;
export const DEFAULT_MAX_DATAGRAM = 2048;
/** Media sockets get large kernel buffers, as in udp.ts: bursts must not overflow them. */
export const DEFAULT_SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

/** The checks both implementations make before sending anything. */
export function checkSendArguments(
  buffer: Uint8Array,
  offsets: Int32Array,
  lengths: Int32Array,
  count: number,
): void {
  if (!Number.isInteger(count) || count < 0 || count > offsets.length || count > lengths.length) {
    throw new RangeError(`sendBatch: count ${count} is not within the offsets and lengths arrays`);
  }
  for (let i = 0; i < count; i++) {
    const offset = offsets[i] ?? -1;
    const length = lengths[i] ?? -1;
    if (offset < 0 || length < 0 || length > 65_535 || offset + length > buffer.length) {
      throw new RangeError(
        `sendBatch: datagram ${i} (offset ${offset}, length ${length}) lies outside the buffer`,
      );
    }
  }
}

export function checkOptions(options: BatchSocketOptions): Required<BatchSocketOptions> {
  const batch = options.batch ?? DEFAULT_BATCH;
  const maxDatagram = options.maxDatagram ?? DEFAULT_MAX_DATAGRAM;
  if (!Number.isInteger(batch) || batch < 1 || batch > 64)
    throw new RangeError(`batch ${batch}: 1-64`);
  if (!Number.isInteger(maxDatagram) || maxDatagram < 1 || maxDatagram > 65_535) {
    throw new RangeError(`maxDatagram ${maxDatagram}: 1-65535`);
  }
  return {
    batch,
    maxDatagram,
    recvBufferBytes: options.recvBufferBytes ?? DEFAULT_SOCKET_BUFFER_BYTES,
    sendBufferBytes: options.sendBufferBytes ?? DEFAULT_SOCKET_BUFFER_BYTES,
  };
}

export class MutableCounters implements BatchSocketCounters {
  received = 0;
  truncated = 0;
  sent = 0;
  sendDropped = 0;
  handlerErrors = 0;
}
