/**
 * An HTTP/1.1 listener that a config push replaces or removes drains, as
 * Envoy drains a listener: what is in flight is answered, and a connection
 * closes after the last response it carries, with "Connection: close" on
 * that response. A removed listener routes what still arrives by its own
 * config's routes (the config in force has none for it).
 * Real listeners, a node:http backend that holds its answers until the test
 * lets them go, and a raw TCP client (so that the bytes on the wire, pipelined
 * requests and the connection's end are seen as they are).
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { HttpService } from '../../../rtp-proxy/l7/l7-service.js';
import { httpSchema } from '../../../src/config/http-schema.js';
import { clientAgent, delay, startBackend, type Backend } from '../../helpers/l7-harness.js';
import { freePort } from '../../helpers/ports.js';

function configOn(port: number, backend: Backend, maxHeaderBytes?: number, name = 'edge') {
  return httpSchema.parse({
    listeners: [
      {
        name,
        listen: `127.0.0.1:${port}`,
        ...(maxHeaderBytes === undefined ? {} : { maxHeaderBytes }),
      },
    ],
    routes: [{ name: 'all', match: { path: { prefix: '/' } }, action: { cluster: 'app' } }],
    clusters: [{ name: 'app', endpoints: [backend.address] }],
  });
}

interface RawResponse {
  readonly status: number;
  readonly connection: string | undefined;
  readonly body: string;
}

/** A client on one connection: what it received, parsed into responses, and whether it was closed. */
class RawConnection {
  readonly #socket: Socket;
  #received = Buffer.alloc(0);
  closed = false;

  constructor(port: number) {
    this.#socket = connect(port, '127.0.0.1');
    this.#socket.on('data', (chunk: Buffer) => {
      this.#received = Buffer.concat([this.#received, chunk]);
    });
    this.#socket.on('error', () => undefined);
    this.#socket.on('close', () => {
      this.closed = true;
    });
  }

  send(requests: string): void {
    this.#socket.write(requests);
  }

  /** Complete responses so far (every answer here has a Content-Length). */
  responses(): RawResponse[] {
    const text = this.#received.toString('latin1');
    const out: RawResponse[] = [];
    let at = 0;
    for (;;) {
      const headEnd = text.indexOf('\r\n\r\n', at);
      if (headEnd < 0) return out;
      const lines = text.slice(at, headEnd).split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(lines[0] ?? '')?.[1]);
      const header = (name: string): string | undefined =>
        lines
          .slice(1)
          .find((line) => line.toLowerCase().startsWith(`${name}:`))
          ?.slice(name.length + 1)
          .trim();
      const length = Number(header('content-length') ?? 0);
      if (text.length < headEnd + 4 + length) return out;
      out.push({
        status,
        connection: header('connection')?.toLowerCase(),
        body: text.slice(headEnd + 4, headEnd + 4 + length),
      });
      at = headEnd + 4 + length;
    }
  }

  async waitFor(what: string, done: () => boolean, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) {
        throw new Error(
          `${what}: not within ${timeoutMs} ms (received ${this.#received.length} B)`,
        );
      }
      await delay(10);
    }
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

function get(path: string): string {
  return `GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`;
}

describe('L7 listener drain (HTTP/1.1)', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    clientAgent.destroy();
  });

  /** A service whose listener "edge" routes to a backend that holds /held/* until released. */
  async function setUp(): Promise<{
    service: HttpService;
    backend: Backend;
    port: number;
    held: ServerResponse[];
    client: RawConnection;
    retire: () => Promise<void>;
  }> {
    const backend = await startBackend('app');
    const held: ServerResponse[] = [];
    backend.handler = (req, res) => {
      if (req.url?.startsWith('/held/') === true) {
        held.push(res);
        return;
      }
      res.end(req.url);
    };
    const service = new HttpService(pino({ level: 'silent' }), new Registry());
    const port = await freePort();
    await service.apply(configOn(port, backend));
    const client = new RawConnection(port);
    cleanups.push(
      () => client.destroy(),
      () => backend.close(),
      () => service.close(),
    );
    // A setting of "edge" changes: a new listener takes over the port, the old one
    // retires (drains for 30 s) and keeps the connections it has.
    const retire = async (): Promise<void> => {
      const before = service.listeners.get('edge');
      await service.apply(configOn(port, backend, 8192));
      assert.notEqual(service.listeners.get('edge'), before, 'the listener was replaced');
    };
    return { service, backend, port, held, client, retire };
  }

  /** Answers the held requests in the order they reached the backend; each body is its path. */
  function release(held: ServerResponse[]): void {
    for (const res of held.splice(0)) {
      const body = res.req.url ?? '';
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
      res.end(body);
    }
  }

  it('a response in flight at the retire says Connection: close, and its connection closes after it', async () => {
    const { held, client, retire } = await setUp();
    client.send(get('/held/one'));
    await client.waitFor('the request reached the backend', () => held.length === 1);
    await retire();
    release(held);
    await client.waitFor('the response and the close', () => client.closed);
    assert.deepEqual(client.responses(), [{ status: 200, connection: 'close', body: '/held/one' }]);
  });

  it('pipelined requests in flight at the retire are all answered; the last says Connection: close', async () => {
    const { held, client, retire } = await setUp();
    client.send(get('/held/first') + get('/held/second') + get('/held/third'));
    await client.waitFor('all three reached the backend', () => held.length === 3);
    await retire();
    release(held);
    await client.waitFor('three responses and the close', () => client.closed);
    // Closing after the first would lose the two queued behind it on the same connection.
    assert.deepEqual(client.responses(), [
      { status: 200, connection: 'keep-alive', body: '/held/first' },
      { status: 200, connection: 'keep-alive', body: '/held/second' },
      { status: 200, connection: 'close', body: '/held/third' },
    ]);
  });

  it('a connection idle at the retire: its next response says Connection: close, then it closes', async () => {
    const { client, retire } = await setUp();
    client.send(get('/before'));
    await client.waitFor('the first response', () => client.responses().length === 1);
    assert.equal(client.responses()[0]?.connection, 'keep-alive');
    await retire();
    await delay(50);
    assert.equal(client.closed, false, 'an idle keep-alive connection is not cut under its client');
    client.send(get('/after'));
    await client.waitFor('the second response and the close', () => client.closed);
    assert.deepEqual(client.responses()[1], { status: 200, connection: 'close', body: '/after' });
  });

  it('a listener the push removes serves its open connections by its own routes while it drains', async () => {
    const { service, backend, client } = await setUp();
    client.send(get('/before'));
    await client.waitFor('the first response', () => client.responses().length === 1);
    // "edge" is dropped for "other" on another port: the config in force has no route for "edge".
    await service.apply(configOn(await freePort(), backend, undefined, 'other'));
    assert.deepEqual([...service.listeners.keys()], ['other']);
    client.send(get('/after'));
    await client.waitFor('the second response and the close', () => client.closed);
    assert.deepEqual(client.responses()[1], { status: 200, connection: 'close', body: '/after' });
  });
});
