/**
 * A room across two signaling nodes (issue 18, E1), everything real: an
 * in-process control plane with mutual TLS (its own CA in a temporary
 * directory), two `startSignaling` nodes on 127.0.0.11 and 127.0.0.12 (one
 * mediasoup worker each, their own RTC ports, cascade links over mTLS),
 * werift peers and GStreamer's VP8 (160x120, 15 fps).
 *
 * A publisher joins r1 on A; subscribers join r1 on B. B's join answer
 * lists A's peer and producer, a subscriber consumes it and RTP arrives
 * through the pipe; a second subscriber on B makes no second copy (one pipe
 * producer on B, one pipe consumer on A, and the process-wide census grows
 * by one producer only), nor does a WHEP viewer of A's peer at B. Pause, resume and close on A reach B's consumers
 * as consumerPaused, consumerResumed and consumerClosed; A's peer leaving
 * is peerLeft at B. The control plane shows r1's home and its pipe while
 * the room is shared. After everyone leaves, the mediasoup objects of both
 * nodes return to what they were before the first join.
 *
 * In r3, B is joined without waiting for the control plane: what B's
 * answer does not list comes as events. In r4, a room B leaves and joins
 * again at once (its PIPE still there) lists A's member in each answer, and
 * media crosses the pipe made again each time. Then, in r2: a copy whose last
 * consumer on B closed is unpiped at both
 * ends after pipeLingerMs (and piped again when consumed again); and when A
 * goes away, B's members see A's peer leave and its producer close, B's
 * consumer of it closes and B has no pipe left to A.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { formatHostPort } from '../../../src/shared/address.js';
import type { RunningSignaling } from '../../../signaling/index.js';
import { censusCounts, type CensusCounts } from '../../../signaling/sfu/index.js';
import { getJson } from '../../helpers/http.js';
import { waitFor } from '../../helpers/process.js';
import { startSignalingMesh, wsUrlOf, type SignalingMesh } from '../../helpers/signaling-mesh.js';
import { roomHomes, waitForRoomPlacement } from '../../helpers/signaling-mesh-admin.js';
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
import { WhepViewer } from '../../helpers/peers/werift-whip.js';
import { SignalingClient, SignalingClients, okData } from '../../helpers/signaling-client.js';

const LOG_LEVEL = process.env['CASCADE_TEST_LOG'] ?? 'silent';
const NODES = [
  {
    id: 'sfu-a',
    host: '127.0.0.11',
    rtcPorts: [43110, 43159] as const,
    cascade: 'pipeLingerMs: 500',
  },
  {
    id: 'sfu-b',
    host: '127.0.0.12',
    rtcPorts: [43160, 43209] as const,
    cascade: 'pipeLingerMs: 500',
  },
] as const;
const PIPE_R1 = 'pipe/r1/sfu-a~sfu-b';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The census without workers (each node's pool keeps its own). */
function media(): string {
  const { workers: _, ...rest } = censusCounts();
  return JSON.stringify(rest);
}

describe('a room across two signaling nodes', { timeout: 90_000 }, () => {
  let mesh: SignalingMesh | undefined;
  let nodes: readonly RunningSignaling[] = [];
  const clients = new SignalingClients();
  const peers: { close(): Promise<void> }[] = [];
  let source: RtpFanIn | undefined;
  let baseline: CensusCounts;

  const adminUrl = (): string => {
    assert.ok(mesh !== undefined);
    return mesh.adminUrl;
  };

  const join_ = (
    node: RunningSignaling,
    peer: string,
    room = 'r1',
  ): Promise<[SignalingClient, Record<string, unknown>]> =>
    clients.joined(wsUrlOf(node), room, peer);

  /** The node's PipeSet stats for a room: producers piped in and out. */
  const piped = (node: RunningSignaling, room = 'r1'): { in: number; out: number } => {
    const set = node.roomCascade.stats().find((entry) => entry.room === room);
    return { in: set?.pipedIn ?? 0, out: set?.pipedOut ?? 0 };
  };

  /** Waits until the control plane placed `room` and sfu-b holds its placement. */
  const placedAtB = async (room: string): Promise<string> => {
    const home = await waitFor(
      async () => (await roomHomes(adminUrl())).get(room),
      10_000,
      () => `${room} placed`,
    );
    await waitForRoomPlacement(adminUrl(), ['sfu-b'], room);
    return home;
  };
  const closed = new Set<RunningSignaling>();

  before(async () => {
    mesh = await startSignalingMesh({ prefix: 'cascade', nodes: NODES, logLevel: LOG_LEVEL });
    nodes = mesh.nodes;
    baseline = censusCounts();
    source = await startFannedVideo({ ...SMALL_VP8, timeoutMs: 85_000 });
  });

  after(async () => {
    await Promise.all(peers.map((peer) => peer.close().catch(() => undefined)));
    await clients.closeAll();
    source?.close();
    await stopAllPeers();
    await mesh?.close(closed);
  });

  it('pipes A’s producer to B’s subscribers once, carries pause, close and leave, and leaves nothing behind', async () => {
    const [a, b] = nodes;
    assert.ok(a !== undefined && b !== undefined && source !== undefined);
    const video = source;
    await video.sending();

    // alice publishes in r1 on A.
    const [aliceWs] = await join_(a, 'alice');
    const alice = await WeriftPublisher.publish(signalingChannel(aliceWs));
    peers.push(alice);
    video.add((packet) => alice.writeRtp(packet));
    // r1 gets a home (on either node: hashing on the name; the home need not
    // be a member), and B holds it: B's first join waits for A's roster then.
    const home = await placedAtB('r1');
    assert.ok(['sfu-a', 'sfu-b'].includes(home), `r1's home ${home} is a signaling node`);

    // bob joins r1 on B: the answer lists alice and her producer, from A.
    const [bobWs, bobJoin] = await join_(b, 'bob');
    assert.deepEqual(
      (bobJoin['peers'] as { peer: string }[]).map((p) => p.peer),
      ['alice'],
    );
    assert.deepEqual(
      (bobJoin['producers'] as { peer: string; producerId: string }[]).map((p) => [
        p.peer,
        p.producerId,
      ]),
      [['alice', alice.producerId]],
    );
    // A's alice learns of bob as of a local peer.
    assert.equal((await aliceWs.event('peerJoined')).data?.['peer'], 'bob');

    const beforeConsume = censusCounts();
    const bob = await WeriftSubscriber.open(signalingChannel(bobWs));
    peers.push(bob);
    const [bobGets] = await bob.consume([alice.producerId]);
    assert.ok(bobGets !== undefined);

    // carol, on B too, consumes the same producer: no second copy.
    const [carolWs, carolJoin] = await join_(b, 'carol');
    assert.deepEqual((carolJoin['peers'] as { peer: string }[]).map((p) => p.peer).sort(), [
      'alice',
      'bob',
    ]);
    const carol = await WeriftSubscriber.open(signalingChannel(carolWs));
    peers.push(carol);
    const [carolGets] = await carol.consume([alice.producerId]);
    assert.ok(carolGets !== undefined);
    const receptions: RtpReception[] = [bobGets, carolGets];
    await waitFor(
      () => (receptions.every((r) => r.received > 20 && r.keyframes > 0) ? true : undefined),
      15_000,
      () => `RTP through the pipe (${receptions.map((r) => r.received).join(', ')})`,
    );
    assert.deepEqual(piped(b), { in: 1, out: 0 }, 'one copy of alice’s producer on B');
    assert.deepEqual(piped(a), { in: 0, out: 1 }, 'one pipe consumer on A');
    const now = censusCounts();
    assert.equal(now.producers - beforeConsume.producers, 1, 'one producer more: B’s copy');
    // Per subscriber: its consumer; plus A’s one pipe consumer.
    assert.equal(now.consumers - beforeConsume.consumers, 3);
    assert.equal(bob.unrouted + carol.unrouted, 0);

    // The control plane shows r1's pipe, both ends addressed and keyed.
    const { body: pipes } = await getJson<{
      pipes: { pipeId: string; room: string; a: { node: string }; b: { node: string } }[];
    }>(`${adminUrl()}/pipes`);
    const pipe = pipes.pipes.find((entry) => entry.pipeId === PIPE_R1);
    assert.ok(pipe !== undefined, `GET /pipes lists ${PIPE_R1}: ${JSON.stringify(pipes)}`);
    assert.deepEqual([pipe.room, pipe.a.node, pipe.b.node], ['r1', 'sfu-a', 'sfu-b']);
    assert.doesNotMatch(JSON.stringify(pipes), /keyBase64/, 'no key in the view');

    // A WHEP viewer of alice through B watches B's copy: still one copy.
    const viewer = await WhepViewer.watch(
      `http://${formatHostPort(b.listen)}/whep/rooms/r1/alice`,
      { audio: false },
    );
    await viewer.waitFor((got) => got.video.packets > 10, 'WHEP video of a peer on A, at B');
    assert.deepEqual(piped(b), { in: 1, out: 0 }, 'the WHEP viewer shares B’s copy');
    await viewer.close();

    // Pause and resume on A reach both consumers on B.
    okData(await aliceWs.request('pauseProducer', { producerId: alice.producerId }));
    await Promise.all([bobWs.event('consumerPaused'), carolWs.event('consumerPaused')]);
    await sleep(300);
    const paused = receptions.map((r) => r.received);
    await sleep(700);
    assert.deepEqual(
      receptions.map((r) => r.received),
      paused,
      'no packet while paused',
    );
    okData(await aliceWs.request('resumeProducer', { producerId: alice.producerId }));
    await Promise.all([bobWs.event('consumerResumed'), carolWs.event('consumerResumed')]);
    await waitFor(
      () => (receptions.every((r, i) => r.received > (paused[i] ?? 0) + 5) ? true : undefined),
      10_000,
      () => 'the flow restarts after resume',
    );

    // Closing the producer on A closes the consumers on B and B's copy.
    okData(await aliceWs.request('closeProducer', { producerId: alice.producerId }));
    const closed = await Promise.all([
      bobWs.event('consumerClosed'),
      carolWs.event('consumerClosed'),
      bobWs.event('producerClosed'),
    ]);
    assert.ok(closed.every((frame) => frame.data?.['producerId'] === alice.producerId));
    await waitFor(
      () => (piped(b).in === 0 && piped(a).out === 0 ? true : undefined),
      5_000,
      () => `no copy left (${JSON.stringify([piped(a), piped(b)])})`,
    );

    // alice leaves A: B's peers see her leave.
    okData(await aliceWs.request('leave'));
    assert.equal((await bobWs.event('peerLeft')).data?.['peer'], 'alice');
    assert.equal((await carolWs.event('peerLeft')).data?.['peer'], 'alice');

    for (const client of [bobWs, carolWs]) okData(await client.request('leave'));
    await Promise.all([alice.close(), bob.close(), carol.close()]);
    const { workers: _, ...expected } = baseline;
    await waitFor(
      () => (media() === JSON.stringify(expected) ? true : undefined),
      10_000,
      () => `mediasoup objects back to ${JSON.stringify(expected)} (now ${media()})`,
    );
    // Neither node holds r1 any more; the control plane withdraws the pipe.
    await waitFor(
      async () => {
        const { body } = await getJson<{ pipes: { pipeId: string }[] }>(`${adminUrl()}/pipes`);
        return body.pipes.some((entry) => entry.pipeId === PIPE_R1) ? undefined : true;
      },
      10_000,
      () => 'the pipe withdrawn',
    );
    assert.deepEqual(
      nodes.map((node) => node.roomCascade.stats().length),
      [0, 0],
    );
  });

  it('a join that does not wait for the other node learns its members from events after the answer', async () => {
    const [a, b] = nodes;
    assert.ok(a !== undefined && b !== undefined);
    // No wait for the placement: B may answer before it knows A holds r3.
    const [ginaWs] = await join_(a, 'gina', 'r3');
    const [hugoWs, hugoJoin] = await join_(b, 'hugo', 'r3');
    const listed = (hugoJoin['peers'] as { peer: string }[]).map((p) => p.peer);
    if (!listed.includes('gina')) {
      assert.equal((await hugoWs.event('peerJoined')).data?.['peer'], 'gina');
    }
    // Either way each side hears of the other once, and of a leave.
    assert.equal((await ginaWs.event('peerJoined')).data?.['peer'], 'hugo');
    okData(await ginaWs.request('leave'));
    assert.equal((await hugoWs.event('peerLeft')).data?.['peer'], 'gina');
    okData(await hugoWs.request('leave'));
    const { workers: _, ...expected } = baseline;
    await waitFor(
      () => (media() === JSON.stringify(expected) ? true : undefined),
      10_000,
      () => `mediasoup objects back to ${JSON.stringify(expected)} (now ${media()})`,
    );
  });

  it('a room left and joined again on B at once gets A’s members again, and media through the pipe made again', async () => {
    const [a, b] = nodes;
    assert.ok(a !== undefined && b !== undefined && source !== undefined);
    const video = source;
    const [idaWs] = await join_(a, 'ida', 'r4');
    const ida = await WeriftPublisher.publish(signalingChannel(idaWs));
    peers.push(ida);
    video.add((packet) => ida.writeRtp(packet));
    await placedAtB('r4');
    for (const round of [1, 2, 3]) {
      const [jonWs, jonJoin] = await join_(b, 'jon', 'r4');
      assert.deepEqual(
        (jonJoin['peers'] as { peer: string }[]).map((p) => p.peer),
        ['ida'],
        `round ${round}`,
      );
      // Each round B's room is new: a new pipe end, which A connects to.
      const jon = await WeriftSubscriber.open(signalingChannel(jonWs));
      const [gets] = await jon.consume([ida.producerId]);
      assert.ok(gets !== undefined);
      await waitFor(
        () => (gets.received > 5 ? true : undefined),
        15_000,
        () => `round ${round}: RTP through the pipe`,
      );
      // B's room closes with jon; the PIPE may stay a while.
      okData(await jonWs.request('leave'));
      await jon.close();
      await jonWs.close();
    }
    okData(await idaWs.request('leave'));
    await ida.close();
  });

  it('unpipes a copy no one consumes, and drops what a node that goes away had', async () => {
    const [a, b] = nodes;
    assert.ok(a !== undefined && b !== undefined && source !== undefined);
    const video = source;
    const [danWs] = await join_(a, 'dan', 'r2');
    const dan = await WeriftPublisher.publish(signalingChannel(danWs));
    peers.push(dan);
    video.add((packet) => dan.writeRtp(packet));
    await placedAtB('r2');
    const [eveWs, eveJoin] = await join_(b, 'eve', 'r2');
    assert.deepEqual(
      (eveJoin['producers'] as { producerId: string }[]).map((p) => p.producerId),
      [dan.producerId],
    );
    const [frankWs] = await join_(b, 'frank', 'r2');
    const eve = await WeriftSubscriber.open(signalingChannel(eveWs));
    peers.push(eve);
    const [first] = await eve.consume([dan.producerId]);
    assert.ok(first !== undefined);
    await waitFor(
      () => (first.received > 10 ? true : undefined),
      15_000,
      () => 'RTP to eve',
    );
    assert.deepEqual(piped(b, 'r2'), { in: 1, out: 0 });

    // eve stops consuming: the copy stays for pipeLingerMs (500 ms), then goes at both ends.
    okData(await eveWs.request('closeConsumer', { consumerId: first.consumerId }));
    assert.deepEqual(piped(b, 'r2'), { in: 1, out: 0 }, 'kept while it lingers');
    await waitFor(
      () => (piped(b, 'r2').in === 0 && piped(a, 'r2').out === 0 ? true : undefined),
      5_000,
      () => `the unused copy unpiped (${JSON.stringify([piped(a, 'r2'), piped(b, 'r2')])})`,
    );
    // Consumed again: piped again.
    const [second] = await eve.consume([dan.producerId]);
    assert.ok(second !== undefined);
    await waitFor(
      () => (second.received > 10 ? true : undefined),
      15_000,
      () => 'RTP again',
    );
    assert.deepEqual(piped(b, 'r2'), { in: 1, out: 0 });

    // A goes away: its link drops; at B dan leaves, his producer and eve's consumer close.
    closed.add(a);
    await a.close();
    const [consumerClosed, eveSawLeave, frankSawLeave] = await Promise.all([
      eveWs.event('consumerClosed'),
      eveWs.event('peerLeft'),
      frankWs.event('peerLeft'),
    ]);
    assert.equal(consumerClosed.data?.['producerId'], dan.producerId);
    assert.deepEqual([eveSawLeave.data?.['peer'], frankSawLeave.data?.['peer']], ['dan', 'dan']);
    assert.equal((await frankWs.event('producerClosed')).data?.['producerId'], dan.producerId);
    assert.deepEqual(
      b.roomCascade.stats().find((set) => set.room === 'r2')?.pipes ?? [],
      [],
      'no pipe to the node that went away',
    );

    for (const client of [eveWs, frankWs]) okData(await client.request('leave'));
    await Promise.all([dan.close(), eve.close()]);
    const { workers: _, ...expected } = baseline;
    await waitFor(
      () => (media() === JSON.stringify(expected) ? true : undefined),
      10_000,
      () => `mediasoup objects back to ${JSON.stringify(expected)} (now ${media()})`,
    );
  });
});
