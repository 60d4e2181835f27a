/**
 * Test side of the signaling protocol: a `ws` client that queues every frame
 * it receives until a test takes it, and small waiting helpers.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Registry } from 'prom-client';
import WebSocket from 'ws';
import { SUBPROTOCOL } from '../../signaling/protocol/messages.js';

export const TIMEOUT_MS = 5_000;

export interface Frame {
  readonly v: number;
  readonly id?: number | null;
  readonly ok?: boolean;
  readonly data?: Record<string, unknown>;
  readonly error?: { code: string; message?: string };
  readonly event?: string;
}

/** A test client: every frame it receives is queued until a test takes it. */
export class SignalingClient {
  readonly socket: WebSocket;
  readonly #frames: Frame[] = [];
  readonly #waiters = new Set<() => void>();
  #nextId = 1;

  constructor(url: string, options: WebSocket.ClientOptions = {}) {
    this.socket = new WebSocket(url, SUBPROTOCOL, options);
    this.socket.on('message', (data) => {
      // Text frames arrive as one Buffer (ws's default binaryType).
      this.#frames.push(JSON.parse((data as Buffer).toString('utf8')) as Frame);
      for (const wake of [...this.#waiters]) wake();
    });
  }

  static async open(url: string, options: WebSocket.ClientOptions = {}): Promise<SignalingClient> {
    const client = new SignalingClient(url, options);
    await once(client.socket, 'open');
    return client;
  }

  sendRaw(frame: string | Buffer, binary = false): void {
    this.socket.send(frame, { binary });
  }

  async request(method: string, data: unknown = {}): Promise<Frame> {
    const id = this.#nextId;
    this.#nextId += 1;
    this.sendRaw(JSON.stringify({ v: 1, id, method, data }));
    return this.take((frame) => frame.id === id, `answer to ${method}`);
  }

  async event(name: string): Promise<Frame> {
    return this.take((frame) => frame.event === name, `event ${name}`);
  }

  /** The first queued frame matching, waiting for it up to TIMEOUT_MS. */
  async take(match: (frame: Frame) => boolean, what: string): Promise<Frame> {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const index = this.#frames.findIndex(match);
      if (index >= 0) return this.#frames.splice(index, 1)[0] as Frame;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    const closed = once(this.socket, 'close');
    this.socket.close();
    await closed;
  }
}

/** The data of a successful answer; fails the test with the error of any other. */
export function okData(frame: Frame): Record<string, unknown> {
  assert.equal(frame.ok, true, `expected success, got ${JSON.stringify(frame.error)}`);
  return frame.data ?? {};
}

/**
 * The clients one test opens, closed together at its end: the tests of rooms
 * across nodes each kept a list, a push per open and a close of them all.
 */
export class SignalingClients {
  readonly #opened: SignalingClient[] = [];

  async open(url: string): Promise<SignalingClient> {
    const client = await SignalingClient.open(url);
    this.#opened.push(client);
    return client;
  }

  /** A client at `url` joined to `room` as `peer`, and the answer's data; fails the test unless joined. */
  async joined(
    url: string,
    room: string,
    peer: string,
  ): Promise<[SignalingClient, Record<string, unknown>]> {
    const client = await this.open(url);
    return [client, okData(await client.request('join', { room, peer }))];
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.#opened.splice(0).map((client) => client.close()));
  }
}

export async function metricValue(registry: Registry, name: string, labels = ''): Promise<number> {
  const text = await registry.metrics();
  const line = text.split('\n').find((row) => row.startsWith(`${name}${labels} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The status a /ws upgrade is answered with: 101 when it opens. */
export function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, SUBPROTOCOL);
    socket.once('open', () => {
      socket.close();
      resolve(101);
    });
    socket.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      socket.terminate();
    });
    socket.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}
