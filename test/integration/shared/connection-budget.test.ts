import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ConnectionBudget } from '../../../src/shared/connection-budget.js';

/** A client socket from `localAddress`, resolved once connected, with a promise of its close. */
async function dial(
  port: number,
  localAddress: string,
): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  const closed = once(socket, 'close').then(() => undefined);
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return { socket, closed };
}

/** Server-side closes follow the client's by a moment: wait for the budget to see them. */
async function settled(budget: ConnectionBudget, open: number): Promise<void> {
  const deadline = Date.now() + 2000;
  while (budget.open !== open && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(budget.open, open);
}

async function counter(registry: Registry, reason: string): Promise<number> {
  const metric = await registry
    .getSingleMetric('streammesh_listener_refused_connections_total')
    ?.get();
  return metric?.values.find((v) => v.labels['reason'] === reason)?.value ?? 0;
}

describe('connection budget on a real listener', () => {
  const registry = new Registry();
  const budget = new ConnectionBudget(
    'test',
    { maxConnections: 6, maxPerSource: 4, headTimeoutMs: 300 },
    registry,
  );
  const heads: string[] = [];
  let server: Server;
  let port = 0;

  before(async () => {
    server = createServer((socket) => {
      if (!budget.admit(socket)) return;
      const deadline = budget.headDeadline(socket);
      socket.on('data', (chunk) => {
        // A "head" here is one line; a client that sends it keeps its slot.
        if (chunk.includes(10)) {
          deadline.met();
          heads.push(chunk.toString().trim());
          socket.write('ok\n');
        }
      });
      socket.on('error', () => undefined);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  after(() => {
    server.close();
  });

  it('caps one source, leaves room for another, and frees slots on close', async () => {
    const mine = await Promise.all([1, 2, 3, 4].map(() => dial(port, '127.0.0.1')));
    const fifth = await dial(port, '127.0.0.1');
    await fifth.closed;
    assert.equal(await counter(registry, 'max_per_source'), 1);
    // Another source address still gets in while the first is at its cap.
    const other = await dial(port, '127.0.0.2');
    other.socket.write('hello\n');
    await once(other.socket, 'data');
    assert.deepEqual(heads, ['hello']);
    await settled(budget, 5);
    for (const { socket } of mine) socket.destroy();
    await Promise.all(mine.map(({ closed }) => closed));
    await settled(budget, 1);
    other.socket.destroy();
    await other.closed;
    await settled(budget, 0);
  });

  it('refuses over the total and counts it', async () => {
    const sources = ['127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8'];
    const held = await Promise.all(sources.map((address) => dial(port, address)));
    const refused = await dial(port, '127.0.0.9');
    await refused.closed;
    assert.equal(await counter(registry, 'max_connections'), 1);
    for (const { socket } of held) socket.destroy();
    await Promise.all(held.map(({ closed }) => closed));
    await settled(budget, 0);
  });

  it('closes a connection that sends no head in time, and keeps one that did', async () => {
    const idle = await dial(port, '127.0.0.10');
    const active = await dial(port, '127.0.0.11');
    active.socket.write('head\n');
    const started = Date.now();
    await idle.closed;
    const waited = Date.now() - started;
    assert.ok(waited >= 250 && waited < 2000, `closed after ${waited} ms`);
    assert.equal(await counter(registry, 'head_timeout'), 1);
    assert.equal(active.socket.destroyed, false);
    active.socket.destroy();
    await active.closed;
  });
});
