/**
 * A bare RTSP client for tests that need to see exact answers (status codes,
 * headers) or send hostile bytes: requests with automatic CSeq, responses in
 * order, interleaved frames collected.
 */
import { connect, type Socket } from 'node:net';
import {
  RtspHeaders,
  RtspStreamParser,
  serializeRequest,
  type RtspResponse,
} from '../../src/protocol/rtsp/index.js';

export class RtspTestClient {
  readonly socket: Socket;
  readonly frames: { channel: number; payload: Buffer }[] = [];
  readonly closed: Promise<void>;
  readonly #parser = new RtspStreamParser({ maxBodyBytes: 1 << 20 });
  readonly #responses: RtspResponse[] = [];
  #waiters: ((response: RtspResponse | undefined) => void)[] = [];
  #cseq = 0;
  #ended = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      for (const event of this.#parser.push(chunk)) {
        if (event.type === 'response') this.#deliver(event.response);
        else if (event.type === 'interleaved') {
          this.frames.push({ channel: event.channel, payload: event.payload });
        }
      }
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.#ended = true;
        for (const waiter of this.#waiters) waiter(undefined);
        this.#waiters = [];
        resolve();
      });
    });
  }

  /** localAddress: the source address (e.g. 127.0.0.2), for a listener's per-source limits. */
  static async connect(
    port: number,
    host = '127.0.0.1',
    localAddress?: string,
  ): Promise<RtspTestClient> {
    const socket = connect({ port, host, ...(localAddress === undefined ? {} : { localAddress }) });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RtspTestClient(socket);
  }

  /** Sends a request and waits for the next response (undefined when the server closed). */
  async request(
    method: string,
    url: string,
    headers: Record<string, string> = {},
    body: Buffer = Buffer.alloc(0),
  ): Promise<RtspResponse | undefined> {
    const all = new RtspHeaders([['CSeq', String(++this.#cseq)], ...Object.entries(headers)]);
    this.socket.write(serializeRequest({ method, url, version: 'RTSP/1.0', headers: all, body }));
    return this.next();
  }

  /** The next response, waiting up to `timeoutMs`; undefined when the connection closed. */
  next(timeoutMs = 10_000): Promise<RtspResponse | undefined> {
    const ready = this.#responses.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no RTSP response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push((response) => {
        clearTimeout(timer);
        resolve(response);
      });
    });
  }

  sendRaw(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  close(): void {
    this.socket.destroy();
  }

  #deliver(response: RtspResponse): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter(response);
    else this.#responses.push(response);
  }
}
