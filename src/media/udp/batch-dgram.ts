/**
 * BatchSocket over node:dgram, the fallback where the native addon is not
 * built: the same interface and semantics, not the same speed. The kernel
 * still delivers one datagram per 'message' event; they are collected and
 * handed over as one batch on setImmediate, i.e. what arrived since the last
 * turn, at most `batch` per handler call. Datagrams longer than maxDatagram
 * are dropped and counted, as the native side does with MSG_TRUNC.
 *
 * sendBatch copies each datagram before handing it to dgram, whose send may
 * complete after the caller has reused its buffer; a send error reported
 * later moves that datagram from `sent` to `sendDropped`.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
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

export class DgramBatchSocket implements BatchSocket {
  readonly kind = 'dgram' as const;
  readonly #options: Required<BatchSocketOptions>;
  readonly #counters = new MutableCounters();
  #socket: Socket | undefined;
  #handler: BatchHandler | undefined;
  #errorHandler: ErrorHandler | undefined;
  #port = 0;
  #closed = false;
  #connected = false;
  #datagrams: Buffer[] = [];
  #sources: RemoteInfo[] = [];
  /** performance.now() at each datagram's 'message' event. */
  #arrivals: number[] = [];
  #deliveredAt = 0;
  #flush: NodeJS.Immediate | undefined;
  /** The one batch object, its count rewritten for each batch (0 outside the handler). */
  readonly #batch: { count: number } & Omit<UdpBatch, 'count'>;

  constructor(options: BatchSocketOptions = {}) {
    this.#options = checkOptions(options);
    this.#batch = {
      count: 0,
      datagram: (i) => this.#pick(this.#datagrams, i),
      source: (i): UdpSource => {
        const info = this.#pick(this.#sources, i);
        return { family: info.family === 'IPv6' ? 6 : 4, address: info.address, port: info.port };
      },
      ageMs: (i) => Math.max(0, this.#deliveredAt - this.#pick(this.#arrivals, i)),
    };
  }

  get counters(): BatchSocketCounters {
    return this.#counters;
  }

  /** One callback for every send (none made per datagram): a late failure moves it from sent to dropped. */
  readonly #sendDone = (error: Error | null): void => {
    if (error === null) return;
    this.#counters.sent--;
    this.#counters.sendDropped++;
    this.#reportError(error, true);
  };

  get port(): number {
    return this.#port;
  }

  get closed(): boolean {
    return this.#closed;
  }

  async bind(address: string, port: number): Promise<number> {
    if (this.#closed || this.#socket !== undefined)
      throw new Error('BatchSocket: already bound or closed');
    const socket = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4' });
    this.#socket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address, port, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    try {
      socket.setRecvBufferSize(this.#options.recvBufferBytes);
      socket.setSendBufferSize(this.#options.sendBufferBytes);
    } catch {
      // Capped by net.core.rmem_max/wmem_max; the default still works.
    }
    // Asynchronous errors (ICMP unreachable...) go to the error handler, never thrown.
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.#reportError(error, true);
    });
    socket.on('message', (message, info) => {
      this.#collect(message, info);
    });
    this.#port = socket.address().port;
    return this.#port;
  }

  async connect(address: string, port: number): Promise<void> {
    const socket = this.#bound();
    // dgram refuses a second connect; the native socket (connect(2)) just changes peers.
    if (this.#connected) socket.disconnect();
    this.#connected = false;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      socket.once('error', onError);
      socket.connect(port, address, () => {
        socket.off('error', onError);
        this.#connected = true;
        resolve();
      });
    });
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
    const socket = this.#bound();
    let sent = 0;
    for (let i = 0; i < count; i++) {
      // A copy: dgram may send after the caller has reused its buffer.
      const datagram = Buffer.copyBytesFrom(buffer, offsets[i] ?? 0, lengths[i] ?? 0);
      const done = this.#sendDone;
      try {
        if (destination === undefined) socket.send(datagram, done);
        else socket.send(datagram, destination.port, destination.address, done);
        sent++;
      } catch (error) {
        // A destination on a connected socket, a socket closed under us: refused at once.
        this.#counters.sendDropped++;
        this.#reportError(error as NodeJS.ErrnoException, false);
      }
    }
    this.#counters.sent += sent;
    return sent;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#flush !== undefined) clearImmediate(this.#flush);
    this.#datagrams = [];
    this.#sources = [];
    this.#arrivals = [];
    const socket = this.#socket;
    if (socket === undefined) return;
    socket.removeAllListeners('message');
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  #reportError(error: NodeJS.ErrnoException, late: boolean): void {
    const handler = this.#errorHandler;
    if (handler === undefined || this.#closed) return;
    try {
      handler({ code: error.code ?? 'ERR_SOCKET', message: error.message, late });
    } catch {
      this.#counters.handlerErrors++;
    }
  }

  #bound(): Socket {
    if (this.#closed) throw new Error('BatchSocket: closed');
    if (this.#socket === undefined) throw new Error('BatchSocket: not bound');
    return this.#socket;
  }

  #collect(message: Buffer, info: RemoteInfo): void {
    if (message.length > this.#options.maxDatagram) {
      this.#counters.truncated++;
      return;
    }
    this.#datagrams.push(message);
    this.#sources.push(info);
    this.#arrivals.push(performance.now());
    this.#flush ??= setImmediate(() => this.#deliver());
  }

  #deliver(): void {
    this.#flush = undefined;
    const datagrams = this.#datagrams;
    const sources = this.#sources;
    const arrivals = this.#arrivals;
    this.#datagrams = [];
    this.#sources = [];
    this.#arrivals = [];
    this.#deliveredAt = performance.now();
    for (let start = 0; start < datagrams.length && !this.#closed; start += this.#options.batch) {
      const end = Math.min(start + this.#options.batch, datagrams.length);
      this.#datagrams = datagrams.slice(start, end);
      this.#sources = sources.slice(start, end);
      this.#arrivals = arrivals.slice(start, end);
      this.#batch.count = end - start;
      this.#counters.received += this.#batch.count;
      try {
        this.#handler?.(this.#batch);
      } catch {
        this.#counters.handlerErrors++;
      } finally {
        this.#batch.count = 0;
      }
    }
    if (!this.#closed) {
      this.#datagrams = [];
      this.#sources = [];
      this.#arrivals = [];
    }
  }

  #pick<T>(array: readonly T[], i: number): T {
    const value = Number.isInteger(i) && i >= 0 && i < this.#batch.count ? array[i] : undefined;
    if (value === undefined)
      throw new RangeError(`datagram ${i} is not in this batch (${this.#batch.count})`);
    return value;
  }
}
