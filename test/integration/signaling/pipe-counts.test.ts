/**
 * Exact pipe counts (issue 18, second test): a room of six werift
 * participants over two signaling nodes with `maxPeersPerNode: 3`, each
 * publishing VP8 (GStreamer, 160x120 at 15 fps, one source fanned out) and
 * consuming the five others. Everything real: an in-process control plane
 * with mutual TLS and two `startSignaling` nodes on 127.0.0.11 and .12.
 *
 * - Three join at A; the fourth join at A is answered `moved` with B's URL
 *   (A is full for the room), and it and two more join at B.
 * - All six consume at once (each subscriber's five consumes concurrently,
 *   the three on a node at the same moment): each producer crosses the
 *   node pair exactly once. On each node the pipe producers are exactly the
 *   other node's three producers (by id, from the process's census of
 *   mediasoup objects, told apart by their pipe transport), the PipeSets
 *   count 3 in and 3 out, and the census grew by 6 + 6 producers and by
 *   6 x 5 + 6 consumers (the participants' and one pipe consumer per copy).
 * - Every one of the 30 consumers receives RTP.
 * - B's participants stop consuming A's producers: after pipeLingerMs the
 *   copies on B and their pipe consumers on A close, while B's producers
 *   still cross to A. Then everyone leaves and the census returns to its
 *   value before the first join.
 * - None of this honest traffic is counted as a claim on what its sender
 *   does not hold (`not_owner` stays 0 on both nodes).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { formatHostPort } from '../../../src/shared/address.js';
import type { RunningSignaling } from '../../../signaling/index.js';
import { censusCounts, liveProducers, type CensusCounts } from '../../../signaling/sfu/index.js';
import { waitFor } from '../../helpers/process.js';
import { stopAllPeers } from '../../helpers/peers/process.js';
import {
  RtpFanIn,
  WeriftPublisher,
  WeriftSubscriber,
  SMALL_VP8,
  signalingChannel,
  startFannedVideo,
  type RtpReception,
} from '../../helpers/peers/werift-signaling.js';
import { SignalingClient, okData } from '../../helpers/signaling-client.js';
import { startSignalingMesh, wsUrlOf, type SignalingMesh } from '../../helpers/signaling-mesh.js';

const LOG_LEVEL = process.env['CASCADE_TEST_LOG'] ?? 'silent';
const ROOM = 'six';
const PER_NODE = 3;
const NODES = [
  {
    id: 'sfu-a',
    host: '127.0.0.11',
    rtcPorts: [43310, 43359] as const,
    cascade: 'pipeLingerMs: 500',
  },
  {
    id: 'sfu-b',
    host: '127.0.0.12',
    rtcPorts: [43360, 43409] as const,
    cascade: 'pipeLingerMs: 500',
  },
] as const;

interface Participant {
  readonly name: string;
  readonly node: RunningSignaling;
  readonly ws: SignalingClient;
  publisher?: WeriftPublisher;
  subscriber?: WeriftSubscriber;
  receptions: RtpReception[];
}

/** The census without workers (each node's pool keeps its own). */
function media(counts: CensusCounts = censusCounts()): string {
  const { workers: _, ...rest } = counts;
  return JSON.stringify(rest);
}

/** Link messages a node ignored as naming what their sender does not hold. */
async function notOwner(node: RunningSignaling): Promise<number> {
  const url = `http://${formatHostPort(node.admin)}/metrics`;
  const text = await (await fetch(url, { signal: AbortSignal.timeout(5_000) })).text();
  const line = text
    .split('\n')
    .find(
      (row) =>
        row.startsWith('streammesh_signaling_cascade_messages_dropped_total{') &&
        row.includes('reason="not_owner"'),
    );
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

/** Ids of the live pipe producers on the node whose pipes lead to `peer` (B's lead to A). */
function pipeProducerIds(peer: string): string[] {
  const ids: string[] = [];
  for (const { stream, transport } of liveProducers()) {
    const appData = transport.appData;
    if (appData['pipePeer'] === peer && appData['room'] === ROOM) ids.push(stream.id);
  }
  return ids.sort();
}

describe('exact pipe counts: six participants over two nodes', { timeout: 120_000 }, () => {
  let mesh: SignalingMesh | undefined;
  let source: RtpFanIn | undefined;
  const participants: Participant[] = [];
  const spare: SignalingClient[] = [];

  const piped = (node: RunningSignaling): { in: number; out: number } => {
    const set = node.roomCascade.stats().find((entry) => entry.room === ROOM);
    return { in: set?.pipedIn ?? 0, out: set?.pipedOut ?? 0 };
  };

  before(async () => {
    mesh = await startSignalingMesh({
      prefix: 'pipe-counts',
      nodes: NODES,
      signaling: [`  maxPeersPerNode: ${PER_NODE}`],
      logLevel: LOG_LEVEL,
    });
    source = await startFannedVideo({ ...SMALL_VP8, timeoutMs: 115_000 });
  });

  after(async () => {
    for (const participant of participants) {
      await participant.publisher?.close().catch(() => undefined);
      await participant.subscriber?.close().catch(() => undefined);
      await participant.ws.close();
    }
    for (const client of spare) await client.close();
    source?.close();
    await stopAllPeers();
    await mesh?.close();
  });

  it('pipes each producer across the node pair exactly once, and closes pipes no one consumes', async () => {
    assert.ok(mesh !== undefined && source !== undefined);
    const [a, b] = mesh.nodes;
    assert.ok(a !== undefined && b !== undefined);
    const video = source;
    await video.sending();
    const baseline = censusCounts();

    const join = async (name: string, node: RunningSignaling): Promise<Participant> => {
      const ws = await SignalingClient.open(wsUrlOf(node));
      okData(await ws.request('join', { room: ROOM, peer: name }));
      const participant: Participant = { name, node, ws, receptions: [] };
      participants.push(participant);
      return participant;
    };
    for (const name of ['p1', 'p2', 'p3']) await join(name, a);

    // A holds three of the room: a fourth join there goes to B.
    const fourth = await SignalingClient.open(wsUrlOf(a));
    spare.push(fourth);
    const refused = await fourth.request('join', { room: ROOM, peer: 'p4' });
    const error = refused.error as { code: string; url?: string } | undefined;
    assert.equal(error?.code, 'moved', JSON.stringify(refused));
    assert.equal(error.url, wsUrlOf(b));
    for (const name of ['p4', 'p5', 'p6']) await join(name, b);
    assert.deepEqual(
      participants.map((p) => p.node.id),
      ['sfu-a', 'sfu-a', 'sfu-a', 'sfu-b', 'sfu-b', 'sfu-b'],
    );

    // Everyone publishes.
    for (const participant of participants) {
      const publisher = await WeriftPublisher.publish(signalingChannel(participant.ws));
      participant.publisher = publisher;
      video.add((packet) => publisher.writeRtp(packet));
    }
    const producerOf = (p: Participant): string => {
      assert.ok(p.publisher !== undefined);
      return p.publisher.producerId;
    };
    const onA = participants.slice(0, PER_NODE).map(producerOf).sort();
    const onB = participants.slice(PER_NODE).map(producerOf).sort();

    // Each participant hears of the five other producers (local or cascaded).
    for (const participant of participants) {
      const others = new Set(participants.filter((p) => p !== participant).map(producerOf));
      const heard = new Set<string>();
      while (heard.size < others.size) {
        const frame = await participant.ws.event('newProducer');
        const id = frame.data?.['producerId'];
        if (typeof id === 'string' && others.has(id)) heard.add(id);
      }
    }

    // All six consume at once: on each node three subscribers ask for the
    // other node's three producers at the same moment.
    await Promise.all(
      participants.map(async (participant) => {
        const subscriber = await WeriftSubscriber.open(signalingChannel(participant.ws));
        participant.subscriber = subscriber;
        const wanted = participants.filter((p) => p !== participant).map(producerOf);
        participant.receptions = await subscriber.consume(wanted);
      }),
    );
    const receptions = participants.flatMap((p) => p.receptions);
    assert.equal(receptions.length, 6 * 5);
    await waitFor(
      () => (receptions.every((r) => r.received > 0) ? true : undefined),
      20_000,
      () => `RTP on every consumer (${receptions.map((r) => r.received).join(', ')})`,
    );

    // Each producer crossed exactly once, each way.
    assert.deepEqual(pipeProducerIds('sfu-a'), onA, 'B holds one copy of each of A’s producers');
    assert.deepEqual(pipeProducerIds('sfu-b'), onB, 'A holds one copy of each of B’s producers');
    assert.deepEqual(piped(a), { in: PER_NODE, out: PER_NODE });
    assert.deepEqual(piped(b), { in: PER_NODE, out: PER_NODE });
    const now = censusCounts();
    assert.equal(now.producers - baseline.producers, 6 + 6, 'six publishers, six copies');
    assert.equal(
      now.consumers - baseline.consumers,
      6 * 5 + 6,
      'five consumers per participant, one pipe consumer per copy',
    );
    assert.equal(
      participants.reduce((sum, p) => sum + (p.subscriber?.unrouted ?? 0), 0),
      0,
    );

    // B's participants stop consuming A's producers: the copies on B go
    // after pipeLingerMs, B's producers still cross to A.
    for (const participant of participants.slice(PER_NODE)) {
      for (const reception of participant.receptions) {
        if (!onA.includes(reception.producerId)) continue;
        okData(await participant.ws.request('closeConsumer', { consumerId: reception.consumerId }));
      }
    }
    await waitFor(
      () => (piped(b).in === 0 && piped(a).out === 0 ? true : undefined),
      5_000,
      () => `unused copies closed (A ${JSON.stringify(piped(a))}, B ${JSON.stringify(piped(b))})`,
    );
    assert.deepEqual(pipeProducerIds('sfu-a'), []);
    assert.deepEqual(piped(a), { in: PER_NODE, out: 0 });
    assert.deepEqual(pipeProducerIds('sfu-b'), onB, 'B’s producers still cross to A');
    const stillFlowing = participants
      .slice(0, PER_NODE)
      .flatMap((p) => p.receptions.filter((r) => onB.includes(r.producerId)));
    const before = stillFlowing.map((r) => r.received);
    await waitFor(
      () => (stillFlowing.every((r, i) => r.received > (before[i] ?? 0)) ? true : undefined),
      5_000,
      () => 'A’s participants still receive B’s producers',
    );

    // Everyone leaves: nothing is left on either node.
    for (const participant of participants) {
      okData(await participant.ws.request('leave'));
      await participant.publisher?.close();
      await participant.subscriber?.close();
    }
    await waitFor(
      () => (media() === media(baseline) ? true : undefined),
      10_000,
      () => `mediasoup objects back to ${media(baseline)} (now ${media()})`,
    );
    assert.deepEqual(
      [a, b].map((node) => node.roomCascade.stats().length),
      [0, 0],
    );
    assert.deepEqual(await Promise.all([a, b].map(notOwner)), [0, 0], 'no honest message ignored');
  });
});
