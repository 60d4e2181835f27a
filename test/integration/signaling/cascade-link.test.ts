/**
 * The cascade link between signaling nodes over real mutual TLS (issue 18):
 * certificates from a real mesh CA (startTestCa), nodes on their own
 * loopback addresses (127.0.0.11, .12, .13).
 *
 * - Two nodes exchange messages both ways and a pipeRequest gets its reply;
 *   both dialing at once leaves one TCP connection between them.
 * - Clients the link must refuse are refused and counted by reason: a proxy
 *   certificate, a certificate claiming a signaling node's id under another
 *   SPIFFE ID, another trust domain, self-signed, expired, none. A dialer
 *   refuses a server that is not the node it meant.
 * - A peer node sending garbage, oversized, binary, wrong-version and
 *   unknown frames, unexpected replies, and more frames than its rate: each
 *   dropped and counted, the link stays up and later messages arrive.
 * - One side closes: 'down' on the other, which redials and is 'up' again
 *   when the node comes back.
 * - Renewal: new handshakes present the new certificate, the open link stays.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { WebSocket } from 'ws';
import type { MeshCa } from '../../../src/control-plane/ca/index.js';
import {
  createCsr,
  generateWorkloadKey,
  privateKeyPem,
  type WorkloadCertificates,
  type WorkloadIdentitySource,
} from '../../../src/shared/identity/index.js';
import { LINK_SUBPROTOCOL, type LinkMessage } from '../../../signaling/cascade/link-messages.js';
import type { LinkPeerEntry } from '../../../signaling/cascade/link-peer-check.js';
import { LINK_PATH } from '../../../signaling/cascade/link-server.js';
import { CascadeLinks } from '../../../signaling/cascade/links.js';
import {
  refusedClientCertificates,
  startTestCa,
  workloadId,
  type TestCa,
} from '../../helpers/mesh-tls.js';
import { waitFor } from '../../helpers/process.js';

const log = pino({ level: 'silent' });
const SIGNALING_ID = workloadId('streammesh-signaling');
const PROXY_ID = workloadId('streammesh-proxy');
const HOSTS: Readonly<Record<string, string>> = {
  'sig-a': '127.0.0.11',
  'sig-b': '127.0.0.12',
  'sig-c': '127.0.0.13',
};
const WAIT_MS = 5_000;

/** A node's certificate as the control plane issues it: its node id as CN. */
async function issueNode(
  ca: MeshCa,
  nodeId: string,
  id = SIGNALING_ID,
): Promise<WorkloadCertificates> {
  const keys = await generateWorkloadKey();
  const issued = await ca.issue(await createCsr(keys, id), { spiffeId: id, nodeId });
  return {
    spiffeId: id,
    nodeId,
    privateKeyPem: privateKeyPem(keys),
    certificatePem: issued.certificatePem,
    chainPem: issued.chainPem,
    trustBundlePem: ca.trustBundle(),
    notAfterMs: issued.notAfter.getTime(),
  };
}

/** A WorkloadIdentitySource whose renewals the test makes. */
class TestIdentity extends EventEmitter implements WorkloadIdentitySource {
  #certificates: WorkloadCertificates;
  constructor(certificates: WorkloadCertificates) {
    super();
    this.#certificates = certificates;
  }
  current(): WorkloadCertificates {
    return this.#certificates;
  }
  renew(certificates: WorkloadCertificates): void {
    this.#certificates = certificates;
    this.emit('renewed', certificates);
  }
}

/** The directory every node reads: SIGNALING_NODE entries, as the control plane pushes them. */
class Directory {
  readonly entries = new Map<string, LinkPeerEntry>();
  set(node: string, port: number, identity: string | null = SIGNALING_ID): void {
    this.entries.set(node, { link: `${HOSTS[node] ?? ''}:${port}`, identity });
  }
  readonly lookup = (node: string): LinkPeerEntry | undefined => this.entries.get(node);
}

interface TestNode {
  readonly node: string;
  readonly links: CascadeLinks;
  readonly registry: Registry;
  readonly identity: TestIdentity;
  readonly port: number;
  readonly received: { node: string; message: LinkMessage }[];
  readonly events: string[];
}

async function startNode(
  node: string,
  certificates: WorkloadCertificates,
  directory: Directory,
  options: { port?: number; rate?: { perSecond: number; burst: number } } = {},
): Promise<TestNode> {
  const registry = new Registry();
  const identity = new TestIdentity(certificates);
  const links = new CascadeLinks({
    ownNode: node,
    listen: { host: HOSTS[node] ?? '', port: options.port ?? 0 },
    identity,
    lookup: (peer) => directory.lookup(peer),
    log,
    metrics: registry,
    heartbeatMs: 200,
    backoff: { baseMs: 20, maxMs: 200 },
    ...(options.rate === undefined ? {} : { rate: options.rate }),
  });
  const received: TestNode['received'] = [];
  const events: string[] = [];
  links.on('message', (peer, message) => received.push({ node: peer, message }));
  links.on('up', (peer) => events.push(`up ${peer}`));
  links.on('down', (peer) => events.push(`down ${peer}`));
  const address = await links.listen();
  directory.set(node, address.port);
  return { node, links, registry, identity, port: address.port, received, events };
}

async function counter(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return 0;
  const { values } = await metric.get();
  const found = values.find((value) =>
    Object.entries(labels).every(([key, label]) => value.labels[key] === label),
  );
  return found?.value ?? 0;
}

/** A WebSocket to `port` on `host` presenting `client` (or no certificate). */
function rawLink(
  host: string,
  port: number,
  ca: string,
  client: { key: string; cert: string } | undefined,
  localAddress?: string,
): WebSocket {
  return new WebSocket(`wss://${host}:${port}${LINK_PATH}`, LINK_SUBPROTOCOL, {
    ca,
    ...client,
    ...(localAddress === undefined ? {} : { localAddress }),
    // The server is the one under test: its identity is not what this client checks.
    rejectUnauthorized: false,
    handshakeTimeout: WAIT_MS,
  });
}

/** Resolves 'open' or 'refused' (error or close before opening). */
function outcome(socket: WebSocket): Promise<'open' | 'refused'> {
  return new Promise((resolve) => {
    socket.once('open', () => resolve('open'));
    socket.once('error', () => resolve('refused'));
    socket.once('close', () => resolve('refused'));
    socket.once('unexpected-response', () => resolve('refused'));
  });
}

const frame = (message: Record<string, unknown>): string => JSON.stringify({ v: 1, ...message });

describe('cascade link (mutual TLS)', () => {
  let testCa: TestCa;
  let dir: string;
  const certificates = new Map<string, WorkloadCertificates>();
  const started: TestNode[] = [];
  const sockets: WebSocket[] = [];

  const start = async (
    node: string,
    directory: Directory,
    options?: Parameters<typeof startNode>[3],
  ): Promise<TestNode> => {
    const certs = certificates.get(node);
    assert.ok(certs !== undefined);
    const running = await startNode(node, certs, directory, options);
    started.push(running);
    return running;
  };

  before(async () => {
    testCa = await startTestCa();
    dir = mkdtempSync(join(tmpdir(), 'cascade-link-'));
    for (const node of Object.keys(HOSTS)) certificates.set(node, await issueNode(testCa.ca, node));
  });

  after(async () => {
    for (const socket of sockets) socket.terminate();
    await Promise.all(started.map((node) => node.links.close()));
    testCa.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('carries messages both ways and a request to its reply, over one link', async () => {
    const directory = new Directory();
    const a = await start('sig-a', directory);
    const b = await start('sig-b', directory);
    b.links.on('message', (node, message) => {
      if (message.type !== 'pipeRequest') return;
      b.links.send(node, {
        type: 'pipeReady',
        id: message.id,
        room: message.room,
        producerId: message.producerId,
        kind: 'video',
        rtpParameters: { codecs: [] },
        paused: true,
      });
    });
    a.links.send('sig-b', {
      type: 'peerJoined',
      room: 'standup',
      peer: 'alice',
      displayName: 'Alice',
    });
    await waitFor(
      () => (b.received.length > 0 ? true : undefined),
      WAIT_MS,
      () => 'b receives',
    );
    assert.deepEqual(b.received[0], {
      node: 'sig-a',
      message: { type: 'peerJoined', room: 'standup', peer: 'alice', displayName: 'Alice' },
    });
    b.links.send('sig-a', { type: 'producerClosed', room: 'standup', producerId: 'p1' });
    await waitFor(
      () => (a.received.length > 0 ? true : undefined),
      WAIT_MS,
      () => 'a receives',
    );
    assert.deepEqual(a.received[0], {
      node: 'sig-b',
      message: { type: 'producerClosed', room: 'standup', producerId: 'p1' },
    });
    const reply = await a.links.request('sig-b', { room: 'standup', producerId: 'p1' }, WAIT_MS);
    assert.equal(reply.type, 'pipeReady');
    assert.equal(reply.producerId, 'p1');
    // The reply went to the request, not to the 'message' listeners.
    assert.equal(a.received.length, 1);
    assert.deepEqual(a.events, ['up sig-b']);
    assert.deepEqual(b.events, ['up sig-a']);
    // Heartbeats keep it up, and it is one connection.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.deepEqual(a.events, ['up sig-b']);
    const open = async (node: TestNode): Promise<number> =>
      counter(node.registry, 'streammesh_listener_connections', { listener: 'cascade' });
    assert.equal((await open(a)) + (await open(b)), 1);
    await a.links.close();
    await b.links.close();
  });

  it('keeps one link when both nodes dial at once: the one the lower node id dialed', async () => {
    const directory = new Directory();
    const a = await start('sig-a', directory);
    const b = await start('sig-b', directory);
    a.links.send('sig-b', { type: 'peerLeft', room: 'r', peer: 'x' });
    b.links.send('sig-a', { type: 'peerLeft', room: 'r', peer: 'y' });
    await waitFor(
      () => (a.received.length > 0 && b.received.length > 0 ? true : undefined),
      WAIT_MS,
      () => 'both receive',
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    const openAtA = await counter(a.registry, 'streammesh_listener_connections', {
      listener: 'cascade',
    });
    const openAtB = await counter(b.registry, 'streammesh_listener_connections', {
      listener: 'cascade',
    });
    // sig-a < sig-b: the connection kept is the one sig-a dialed, held by sig-b's listener.
    assert.deepEqual([openAtA, openAtB], [0, 1]);
    assert.deepEqual(a.links.upNodes(), ['sig-b']);
    assert.deepEqual(b.links.upNodes(), ['sig-a']);
    assert.equal(a.events.at(-1), 'up sig-b');
    assert.equal(b.events.at(-1), 'up sig-a');
    await a.links.close();
    await b.links.close();
  });

  it('refuses clients that are not a known signaling node under its identity, and counts why', async () => {
    const directory = new Directory();
    const b = await start('sig-b', directory);
    directory.set('sig-c', 1);
    directory.set('proxy-1', 1, PROXY_ID);
    const bad = refusedClientCertificates(dir, testCa.rootFile, SIGNALING_ID);
    const pem = (certs: WorkloadCertificates): { key: string; cert: string } => ({
      key: certs.privateKeyPem,
      cert: `${certs.certificatePem.trimEnd()}\n${certs.chainPem}`,
    });
    const cases: readonly [string, { key: string; cert: string } | undefined, string][] = [
      ['proxy', pem(await issueNode(testCa.ca, 'proxy-9', PROXY_ID)), 'unknown_node'],
      [
        'claims sig-c as a proxy',
        pem(await issueNode(testCa.ca, 'sig-c', PROXY_ID)),
        'identity_mismatch',
      ],
      [
        'proxy-1 with a signaling id',
        pem(await issueNode(testCa.ca, 'proxy-1')),
        'identity_mismatch',
      ],
      ['another trust domain', bad.otherTrustDomain, 'tls_no_mesh_identity'],
      ['self-signed', bad.selfSigned, 'tls_client_certificate_untrusted'],
      ['another CA', bad.otherCa, 'tls_client_certificate_untrusted'],
      ['expired', bad.expired, 'tls_client_certificate_expired'],
      ['no certificate', undefined, 'tls_no_client_certificate'],
      ['itself', pem(certificates.get('sig-b') ?? assert.fail()), 'self'],
    ];
    for (const [name, client, reason] of cases) {
      const before = await counter(b.registry, 'streammesh_signaling_cascade_links_refused_total', {
        reason,
      });
      const socket = rawLink(HOSTS['sig-b'] ?? '', b.port, testCa.bundlePem, client);
      sockets.push(socket);
      assert.equal(await outcome(socket), 'refused', name);
      await waitFor(
        async () =>
          (await counter(b.registry, 'streammesh_signaling_cascade_links_refused_total', {
            reason,
          })) ===
          before + 1
            ? true
            : undefined,
        WAIT_MS,
        () => `${name} counted as ${reason}`,
      );
    }
    // Plaintext on the TLS port.
    const plain = new WebSocket(
      `ws://${HOSTS['sig-b'] ?? ''}:${b.port}${LINK_PATH}`,
      LINK_SUBPROTOCOL,
    );
    sockets.push(plain);
    assert.equal(await outcome(plain), 'refused');
    await waitFor(
      async () =>
        (await counter(b.registry, 'streammesh_signaling_cascade_links_refused_total', {
          reason: 'tls_not_tls',
        })) === 1
          ? true
          : undefined,
      WAIT_MS,
      () => 'plaintext counted as tls_not_tls',
    );
    assert.deepEqual(b.links.upNodes(), []);
    // The real sig-c is accepted: the refusals were about the certificates.
    const good = rawLink(
      HOSTS['sig-b'] ?? '',
      b.port,
      testCa.bundlePem,
      pem(certificates.get('sig-c') ?? assert.fail()),
    );
    sockets.push(good);
    assert.equal(await outcome(good), 'open');
    good.close();
    // Until its certificate is revoked (the list comes with the trust bundle, as a renewal).
    const sigC = certificates.get('sig-c') ?? assert.fail();
    b.identity.renew({
      ...(certificates.get('sig-b') ?? assert.fail()),
      revokedSerials: [new X509Certificate(sigC.certificatePem).serialNumber],
    });
    const revoked = rawLink(HOSTS['sig-b'] ?? '', b.port, testCa.bundlePem, pem(sigC));
    sockets.push(revoked);
    assert.equal(await outcome(revoked), 'refused');
    await waitFor(
      async () =>
        (await counter(b.registry, 'streammesh_signaling_cascade_links_refused_total', {
          reason: 'tls_client_certificate_revoked',
        })) === 1
          ? true
          : undefined,
      WAIT_MS,
      () => 'revoked counted',
    );
    await b.links.close();
  });

  it('dials only the node it means: a server under another identity is refused', async () => {
    const directory = new Directory();
    const a = await start('sig-a', directory);
    const b = await start('sig-b', directory);
    // The directory says sig-b is a proxy's identity: sig-b's certificate does not match it.
    directory.set('sig-b', b.port, PROXY_ID);
    a.links.send('sig-b', { type: 'peerLeft', room: 'r', peer: 'x' });
    await waitFor(
      async () =>
        (await counter(a.registry, 'streammesh_signaling_cascade_dials_failed_total', {
          reason: 'server_identity',
        })) > 0
          ? true
          : undefined,
      WAIT_MS,
      () => 'a server_identity failure counted',
    );
    assert.deepEqual(a.links.upNodes(), []);
    assert.equal(b.received.length, 0);
    await a.links.close();
    await b.links.close();
  });

  it('drops and counts frames that are not messages, and the link stays up', async () => {
    const directory = new Directory();
    const b = await start('sig-b', directory, { rate: { perSecond: 20, burst: 40 } });
    directory.set('sig-c', 1);
    const certs = certificates.get('sig-c') ?? assert.fail();
    const peer = rawLink(
      HOSTS['sig-b'] ?? '',
      b.port,
      testCa.bundlePem,
      { key: certs.privateKeyPem, cert: `${certs.certificatePem.trimEnd()}\n${certs.chainPem}` },
      HOSTS['sig-c'],
    );
    sockets.push(peer);
    peer.on('message', (data: Buffer) => {
      if (String(data).includes('"ping"')) peer.send(frame({ type: 'pong' }));
    });
    assert.equal(await outcome(peer), 'open');
    await waitFor(
      () => (b.links.isUp('sig-c') ? true : undefined),
      WAIT_MS,
      () => 'link up',
    );
    const dropped = (reason: string): Promise<number> =>
      counter(b.registry, 'streammesh_signaling_cascade_messages_dropped_total', { reason });
    peer.send('not json at all');
    peer.send(frame({ type: 'ping', pad: 'x'.repeat(100 * 1024) }));
    peer.send(Buffer.from([0, 1, 2, 3]), { binary: true });
    peer.send(frame({ type: 'peerLeft', room: '../../etc', peer: 'x' }));
    peer.send(JSON.stringify({ v: 9, type: 'peerLeft', room: 'r', peer: 'x' }));
    peer.send(frame({ type: 'selfDestruct' }));
    peer.send(
      frame({
        type: 'pipeReady',
        id: 424242,
        room: 'r',
        producerId: 'p',
        kind: 'video',
        rtpParameters: {},
        paused: false,
      }),
    );
    peer.send(frame({ type: 'peerLeft', room: 'r', peer: 'after-garbage' }));
    const expected = {
      bad_json: 1,
      too_large: 1,
      binary: 1,
      bad_message: 1,
      unsupported_version: 1,
      unknown_type: 1,
      unexpected_reply: 1,
    };
    await waitFor(
      () => (b.received.length > 0 ? true : undefined),
      WAIT_MS,
      () => 'the message after the garbage arrives',
    );
    assert.deepEqual(b.received, [
      { node: 'sig-c', message: { type: 'peerLeft', room: 'r', peer: 'after-garbage' } },
    ]);
    for (const [reason, count] of Object.entries(expected)) {
      assert.equal(await dropped(reason), count, reason);
    }
    // A flood over the rate: the excess is dropped, the link stays up, and a
    // message after the bucket refills arrives.
    for (let i = 0; i < 200; i += 1)
      peer.send(frame({ type: 'peerLeft', room: 'r', peer: `f${i}` }));
    await waitFor(
      async () => ((await dropped('rate_limited')) > 0 ? true : undefined),
      WAIT_MS,
      () => 'rate_limited counted',
    );
    const floodReceived = b.received.length - 1;
    assert.ok(floodReceived < 200, `${floodReceived} of the flood got through`);
    assert.equal(floodReceived + (await dropped('rate_limited')), 200);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    peer.send(frame({ type: 'peerLeft', room: 'r', peer: 'after-flood' }));
    await waitFor(
      () =>
        b.received.some(
          ({ message }) => message.type === 'peerLeft' && message.peer === 'after-flood',
        )
          ? true
          : undefined,
      WAIT_MS,
      () => 'the message after the flood arrives',
    );
    assert.equal(peer.readyState, WebSocket.OPEN);
    assert.ok(b.links.isUp('sig-c'));
    assert.deepEqual(b.events, ['up sig-c']);
    peer.close();
    await b.links.close();
  });

  it('goes down when the peer closes, and is up again when it comes back', async () => {
    const directory = new Directory();
    const a = await start('sig-a', directory);
    const b = await start('sig-b', directory);
    a.links.send('sig-b', { type: 'peerLeft', room: 'r', peer: 'first' });
    await waitFor(
      () => (a.links.isUp('sig-b') ? true : undefined),
      WAIT_MS,
      () => 'up',
    );
    await b.links.close();
    await waitFor(
      () => (a.events.includes('down sig-b') ? true : undefined),
      WAIT_MS,
      () => 'down',
    );
    assert.ok(!a.links.isUp('sig-b'));
    // Redials fail while sig-b is away...
    await waitFor(
      async () =>
        (await counter(a.registry, 'streammesh_signaling_cascade_dials_failed_total', {
          reason: 'connect',
        })) > 0
          ? true
          : undefined,
      WAIT_MS,
      () => 'failed redials counted',
    );
    // ...and one succeeds when it is back on its address.
    const back = await start('sig-b', directory, { port: b.port });
    await waitFor(
      () => (a.links.isUp('sig-b') ? true : undefined),
      WAIT_MS,
      () => 'up again',
    );
    assert.deepEqual(a.events, ['up sig-b', 'down sig-b', 'up sig-b']);
    a.links.send('sig-b', { type: 'peerLeft', room: 'r', peer: 'second' });
    await waitFor(
      () => (back.received.length > 0 ? true : undefined),
      WAIT_MS,
      () => 'received',
    );
    assert.deepEqual(back.received[0]?.message, { type: 'peerLeft', room: 'r', peer: 'second' });
    await a.links.close();
    await back.links.close();
  });

  it('presents a renewed certificate to new handshakes, and keeps the open link', async () => {
    const directory = new Directory();
    const a = await start('sig-a', directory);
    const b = await start('sig-b', directory);
    a.links.send('sig-b', { type: 'peerLeft', room: 'r', peer: 'x' });
    await waitFor(
      () => (b.links.isUp('sig-a') ? true : undefined),
      WAIT_MS,
      () => 'up',
    );
    const presented = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const certs = certificates.get('sig-c') ?? assert.fail();
        const socket = tlsConnect({
          host: HOSTS['sig-b'],
          port: b.port,
          ca: testCa.bundlePem,
          key: certs.privateKeyPem,
          cert: certs.certificatePem,
          checkServerIdentity: () => undefined,
        });
        socket.once('secureConnect', () => {
          resolve(socket.getPeerCertificate().serialNumber);
          socket.destroy();
        });
        socket.once('error', reject);
      });
    const serial = (pem: string): string => new X509Certificate(pem).serialNumber;
    const first = certificates.get('sig-b') ?? assert.fail();
    assert.equal(await presented(), serial(first.certificatePem));
    // The renewal also moves sig-b to another SPIFFE ID, so that a handshake
    // made with the old certificate would be refused from now on.
    const renewedId = workloadId('streammesh-signaling-renewed');
    const renewed = await issueNode(testCa.ca, 'sig-b', renewedId);
    b.identity.renew(renewed);
    directory.set('sig-b', b.port, renewedId);
    assert.equal(await presented(), serial(renewed.certificatePem));
    assert.notEqual(serial(renewed.certificatePem), serial(first.certificatePem));
    // The link made with the old certificate is still the same session.
    a.links.send('sig-b', { type: 'peerLeft', room: 'r', peer: 'after-renewal' });
    await waitFor(
      () => (b.received.length === 2 ? true : undefined),
      WAIT_MS,
      () => 'received',
    );
    assert.deepEqual(b.events, ['up sig-a']);
    // A new dial from sig-b presents its renewed certificate: sig-a, which now
    // knows sig-b only under the new identity, accepts it.
    a.links.disconnect('sig-b');
    await waitFor(
      () => (b.events.includes('down sig-a') ? true : undefined),
      WAIT_MS,
      () => 'down',
    );
    b.links.send('sig-a', { type: 'peerLeft', room: 'r', peer: 'from-renewed' });
    await waitFor(
      () => (a.received.length > 0 ? true : undefined),
      WAIT_MS,
      () => 'a receives',
    );
    assert.equal(
      await counter(a.registry, 'streammesh_signaling_cascade_links_refused_total', {
        reason: 'identity_mismatch',
      }),
      0,
    );
    await a.links.close();
    await b.links.close();
  });
});
