/**
 * The cascade link without workload identities (controlPlane.mtls off,
 * tests only), and the link's behaviour that does not depend on TLS, on
 * real sockets on 127.0.0.11-13:
 *
 * - a dialer naming a known node is accepted only from the host of that
 *   node's link address; one naming no node, an unknown node, or this node
 *   itself is refused and counted;
 * - a peer that stops answering pings is 'down' after the missed pongs;
 * - a dial from a node whose link this node thinks is still up (the peer
 *   lost it) replaces it: a 'down' then an 'up';
 * - a request with no reply times out, one in flight when the link goes
 *   down fails at once with LinkDownError, one to an unknown node fails;
 * - disconnect() releases the link: the peer does not redial it;
 * - refresh() closes the link to a node the directory no longer has;
 * - a message about a room the two nodes do not share is dropped (not_member).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { WebSocket } from 'ws';
import { LINK_SUBPROTOCOL, type LinkMessage } from '../../../signaling/cascade/link-messages.js';
import {
  LINK_NODE_HEADER,
  type LinkPeerEntry,
} from '../../../signaling/cascade/link-peer-check.js';
import { LINK_PATH } from '../../../signaling/cascade/link-server.js';
import { CascadeLinks } from '../../../signaling/cascade/links.js';
import { waitFor } from '../../helpers/process.js';

const log = pino({ level: 'silent' });
const HOSTS: Readonly<Record<string, string>> = {
  'sig-a': '127.0.0.11',
  'sig-b': '127.0.0.12',
  'sig-c': '127.0.0.13',
};
const WAIT_MS = 5_000;
const HEARTBEAT_MS = 100;
const MISSED = 3;

interface TestNode {
  readonly links: CascadeLinks;
  readonly registry: Registry;
  readonly port: number;
  readonly received: { node: string; message: LinkMessage }[];
  readonly events: string[];
}

const entries = new Map<string, LinkPeerEntry>();
const started: CascadeLinks[] = [];
const sockets: WebSocket[] = [];

async function startNode(
  node: string,
  shares?: (peer: string, room: string) => boolean,
): Promise<TestNode> {
  const registry = new Registry();
  const links = new CascadeLinks({
    ...(shares === undefined ? {} : { shares }),
    ownNode: node,
    listen: { host: HOSTS[node] ?? '', port: 0 },
    lookup: (peer) => entries.get(peer),
    log,
    metrics: registry,
    heartbeatMs: HEARTBEAT_MS,
    maxMissedPongs: MISSED,
    backoff: { baseMs: 20, maxMs: 100 },
  });
  started.push(links);
  const received: TestNode['received'] = [];
  const events: string[] = [];
  links.on('message', (peer, message) => received.push({ node: peer, message }));
  links.on('up', (peer) => events.push(`up ${peer}`));
  links.on('down', (peer) => events.push(`down ${peer}`));
  const { port } = await links.listen();
  entries.set(node, { link: `${HOSTS[node] ?? ''}:${port}`, identity: null });
  return { links, registry, port, received, events };
}

async function count(registry: Registry, name: string, reason: string): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return 0;
  const { values } = await metric.get();
  return values.find((value) => value.labels['reason'] === reason)?.value ?? 0;
}

/** A plaintext link client from `localAddress`, naming itself `node` (or nothing). */
function rawLink(port: number, node: string | undefined, localAddress: string): WebSocket {
  const socket = new WebSocket(
    `ws://${HOSTS['sig-b'] ?? ''}:${port}${LINK_PATH}`,
    LINK_SUBPROTOCOL,
    {
      localAddress,
      ...(node === undefined ? {} : { headers: { [LINK_NODE_HEADER]: node } }),
      handshakeTimeout: WAIT_MS,
    },
  );
  sockets.push(socket);
  return socket;
}

function outcome(socket: WebSocket): Promise<number> {
  return new Promise((resolve) => {
    socket.once('open', () => resolve(101));
    socket.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    socket.once('error', () => resolve(0));
  });
}

const until = (condition: () => boolean, what: string): Promise<true> =>
  waitFor(
    () => (condition() ? true : undefined),
    WAIT_MS,
    () => what,
  );

describe('cascade link (plaintext, tests only) and its sessions', () => {
  after(async () => {
    for (const socket of sockets) socket.terminate();
    await Promise.all(started.map((links) => links.close()));
  });

  it('accepts a named node from its own host only', async () => {
    const b = await startNode('sig-b');
    entries.set('sig-c', { link: `${HOSTS['sig-c'] ?? ''}:1`, identity: null });
    const refused = (reason: string): Promise<number> =>
      count(b.registry, 'streammesh_signaling_cascade_links_refused_total', reason);
    assert.equal(await outcome(rawLink(b.port, 'sig-c', '127.0.0.14')), 403);
    assert.equal(await refused('source_mismatch'), 1);
    assert.equal(await outcome(rawLink(b.port, 'sig-x', '127.0.0.13')), 403);
    assert.equal(await refused('unknown_node'), 1);
    assert.equal(await outcome(rawLink(b.port, undefined, '127.0.0.13')), 403);
    assert.equal(await refused('no_node_id'), 1);
    assert.equal(await outcome(rawLink(b.port, 'sig-b', '127.0.0.12')), 403);
    assert.equal(await refused('self'), 1);
    assert.deepEqual(b.events, []);
    const good = rawLink(b.port, 'sig-c', '127.0.0.13');
    assert.equal(await outcome(good), 101);
    await until(() => b.links.isUp('sig-c'), 'sig-c up');
    // sig-c dials again while sig-b's link from it is up: sig-c lost its side, so its
    // new dial replaces the old one (sig-b < sig-c, and sig-b did not dial the old one).
    const again = rawLink(b.port, 'sig-c', '127.0.0.13');
    assert.equal(await outcome(again), 101);
    await until(() => b.events.length === 3, 'replaced');
    assert.deepEqual(b.events, ['up sig-c', 'down sig-c', 'up sig-c']);
    await until(() => good.readyState === WebSocket.CLOSED, 'the replaced socket closes');
    again.close();
    await b.links.close();
  });

  it('ends a link whose peer stops answering pings, after the missed pongs', async () => {
    const b = await startNode('sig-b');
    entries.set('sig-c', { link: `${HOSTS['sig-c'] ?? ''}:1`, identity: null });
    const silent = rawLink(b.port, 'sig-c', '127.0.0.13');
    const pings: number[] = [];
    silent.on('message', (data: Buffer) => {
      if (String(data).includes('"ping"')) pings.push(Date.now());
    });
    assert.equal(await outcome(silent), 101);
    await until(() => b.links.isUp('sig-c'), 'up');
    const upAt = Date.now();
    await until(() => b.events.includes('down sig-c'), 'down after missed pongs');
    const downAfter = Date.now() - upAt;
    assert.equal(pings.length, MISSED, `${pings.length} pings before the link ended`);
    assert.ok(downAfter >= MISSED * HEARTBEAT_MS, `down after ${downAfter} ms`);
    await until(() => silent.readyState === WebSocket.CLOSED, 'socket closed');
    await b.links.close();
  });

  it('fails requests: timeout, link down, unknown node', async () => {
    const a = await startNode('sig-a');
    const b = await startNode('sig-b');
    // sig-b answers nothing.
    await assert.rejects(
      a.links.request('sig-b', { room: 'r', producerId: 'p' }, 300),
      (error: { code?: string }) => error.code === 'ERR_CASCADE_LINK_TIMEOUT',
    );
    await until(() => a.links.isUp('sig-b'), 'up');
    const inFlight = a.links.request('sig-b', { room: 'r', producerId: 'p' }, WAIT_MS);
    const startedAt = Date.now();
    await b.links.close();
    await assert.rejects(
      inFlight,
      (error: { code?: string }) => error.code === 'ERR_CASCADE_LINK_DOWN',
    );
    assert.ok(Date.now() - startedAt < WAIT_MS / 2);
    await assert.rejects(
      a.links.request('sig-z', { room: 'r', producerId: 'p' }, 300),
      (error: { code?: string }) => error.code === 'ERR_CASCADE_LINK_UNKNOWN_NODE',
    );
    await a.links.close();
  });

  it('releases a link on disconnect(): the peer does not redial', async () => {
    const a = await startNode('sig-a');
    const b = await startNode('sig-b');
    b.links.send('sig-a', { type: 'peerLeft', room: 'r', peer: 'x' });
    await until(() => a.received.length === 1, 'a receives');
    a.links.disconnect('sig-b');
    await until(() => b.events.includes('down sig-b') || b.events.includes('down sig-a'), 'down');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(a.links.upNodes(), []);
    assert.deepEqual(b.links.upNodes(), []);
    assert.deepEqual(b.events, ['up sig-a', 'down sig-a']);
    // A later message opens it again.
    b.links.send('sig-a', { type: 'peerLeft', room: 'r', peer: 'y' });
    await until(() => a.received.length === 2, 'a receives again');
    await a.links.close();
    await b.links.close();
  });

  it('closes the link to a node the directory no longer has, on refresh()', async () => {
    const a = await startNode('sig-a');
    const b = await startNode('sig-b');
    a.links.send('sig-b', { type: 'peerLeft', room: 'r', peer: 'x' });
    await until(() => b.received.length === 1, 'b receives');
    entries.delete('sig-a');
    b.links.refresh();
    await until(() => b.events.includes('down sig-a'), 'down at b');
    await until(() => a.events.includes('down sig-b'), 'down at a');
    // sig-a redials (sig-b is still in its directory), and sig-b refuses it.
    await waitFor(
      async () =>
        (await count(
          b.registry,
          'streammesh_signaling_cascade_links_refused_total',
          'unknown_node',
        )) > 0
          ? true
          : undefined,
      WAIT_MS,
      () => 'redial refused as unknown_node',
    );
    assert.deepEqual(b.links.upNodes(), []);
    b.links.send('sig-a', { type: 'peerLeft', room: 'r', peer: 'y' });
    assert.equal(
      await count(
        b.registry,
        'streammesh_signaling_cascade_messages_dropped_total',
        'send_undelivered',
      ),
      1,
    );
    await a.links.close();
    await b.links.close();
  });

  it('drops messages about a room the nodes do not share, and counts them', async () => {
    const a = await startNode('sig-a');
    const b = await startNode('sig-b', (peer, room) => peer === 'sig-a' && room === 'shared');
    a.links.send('sig-b', { type: 'peerJoined', room: 'elsewhere', peer: 'x', displayName: 'X' });
    a.links.send('sig-b', { type: 'producerClosed', room: 'elsewhere', producerId: 'p' });
    a.links.send('sig-b', { type: 'peerJoined', room: 'shared', peer: 'y', displayName: 'Y' });
    await until(() => b.received.length === 1, 'the shared room message arrives');
    assert.deepEqual(b.received, [
      {
        node: 'sig-a',
        message: { type: 'peerJoined', room: 'shared', peer: 'y', displayName: 'Y' },
      },
    ]);
    assert.equal(
      await count(b.registry, 'streammesh_signaling_cascade_messages_dropped_total', 'not_member'),
      2,
    );
    assert.ok(b.links.isUp('sig-a'));
    await a.links.close();
    await b.links.close();
  });
});
