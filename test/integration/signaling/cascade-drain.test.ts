/**
 * A signaling node leaving by drain (issue 18 point 5, signaling/CASCADE.md
 * "Drain"), everything real: an in-process control plane with mutual TLS
 * and two `startSignaling` nodes on 127.0.0.61-62 (startSignalingMesh),
 * clients speaking the protocol over real WebSockets.
 *
 * - A join answer in a mesh carries `doors`: the other node's ws URL.
 * - Node A drains the way SIGTERM drains it (RunningSignaling.drain: it
 *   tells the control plane, which pushes its drain to B): each peer joined
 *   on A gets `move` with B's ws URL and the drain's deadline; a new join at
 *   A is answered `moved` to B; once B knows A drains, its answers name no
 *   door to A.
 * - A WHEP POST at A is a 307 to B (a WHIP/WHEP session cannot be asked to
 *   move later). The room's home may have left A by then (the control plane
 *   moves it at once); the case where A is still its home is a row of
 *   test/unit/signaling/door.test.ts.
 * - The drain ends as soon as A serves no one (the moved peers joined B and
 *   left A), long before its deadline.
 * - Then B drains too, with nowhere to send its peers: at its deadline they
 *   are told to `reconnect` and leave its rooms, and its WHIP publisher's
 *   session ends with its room (who is left is closed, as a proxy closes
 *   its viewers); B stays up, taking no one.
 *
 * (`streammesh drain`, the control plane's POST /nodes/<id>/drain, reaches
 * the same MeshNode.onDrain: test/e2e/signaling/cascade-failover-move.test.ts
 * runs it against real processes.)
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { formatHostPort } from '../../../src/shared/address.js';
import type { RunningSignaling } from '../../../signaling/index.js';
import { waitFor } from '../../helpers/process.js';
import { startSignalingMesh, wsUrlOf, type SignalingMesh } from '../../helpers/signaling-mesh.js';
import { waitForFullDirectory } from '../../helpers/signaling-mesh-admin.js';
import { SignalingClient, SignalingClients, okData } from '../../helpers/signaling-client.js';
import { WhipPublisher } from '../../helpers/peers/werift-whip.js';

const LOG_LEVEL = process.env['DRAIN_TEST_LOG'] ?? 'silent';
const NODES = [
  { id: 'sfu-a', host: '127.0.0.61', rtcPorts: [43810, 43859] as const },
  { id: 'sfu-b', host: '127.0.0.62', rtcPorts: [43860, 43909] as const },
] as const;
const ROOM = 'drain-r';
/** Far beyond what the test takes: the drain must end because A is empty, not at its deadline. */
const DRAIN_TIMEOUT_MS = 30_000;
/** B's drain, which nothing ends early: its peers have nowhere to go. */
const SHORT_DRAIN_MS = 2_000;

describe('a signaling node drains: its peers are asked to move', { timeout: 90_000 }, () => {
  let mesh: SignalingMesh | undefined;
  const clients = new SignalingClients();

  const node = (index: 0 | 1): RunningSignaling => {
    const running = mesh?.nodes[index];
    assert.ok(running !== undefined);
    return running;
  };
  const wsUrl = (index: 0 | 1): string => wsUrlOf(node(index));
  const httpBase = (index: 0 | 1): string => `http://${formatHostPort(node(index).listen)}`;
  /** WHIP sessions open on a node, from its admin's metrics. */
  const whipSessions = async (index: 0 | 1): Promise<number> => {
    const text = await (await fetch(`http://${formatHostPort(node(index).admin)}/metrics`)).text();
    const line = text
      .split('\n')
      .find(
        (row) =>
          row.startsWith('streammesh_signaling_whip_whep_sessions{') &&
          row.includes('endpoint="whip"'),
      );
    return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  const publishers: WhipPublisher[] = [];
  const open = (url: string): Promise<SignalingClient> => clients.open(url);

  before(async () => {
    mesh = await startSignalingMesh({
      prefix: 'drain',
      nodes: NODES.map((entry) => ({ ...entry, cascade: 'pipeLingerMs: 500' })),
      logLevel: LOG_LEVEL,
    });
    // Each node's directory names both (doors and moves choose among them).
    await waitForFullDirectory(
      mesh.adminUrl,
      NODES.map((entry) => entry.id),
    );
  });

  after(async () => {
    await clients.closeAll();
    await Promise.all(publishers.map((publisher) => publisher.close(false)));
    await mesh?.close();
  });

  it('join answers name the other node as a door; a drain asks every peer on A to move to B', async () => {
    const alice = await open(wsUrl(0));
    const carol = await open(wsUrl(0));
    const bob = await open(wsUrl(1));
    const aliceJoin = okData(await alice.request('join', { room: ROOM, peer: 'alice' }));
    assert.deepEqual(aliceJoin['doors'], [wsUrl(1)], 'A names B as its door');
    okData(await carol.request('join', { room: ROOM, peer: 'carol', displayName: 'Carol' }));
    const bobJoin = okData(await bob.request('join', { room: ROOM, peer: 'bob' }));
    assert.deepEqual(bobJoin['doors'], [wsUrl(0)], 'B names A as its door');

    const started = performance.now();
    const asked = Date.now();
    const drained = node(0).drain(DRAIN_TIMEOUT_MS);
    let drainOver: number | undefined;
    void drained.then(() => {
      drainOver = performance.now();
    });

    for (const client of [alice, carol]) {
      const move = await client.event('move');
      assert.equal(move.data?.['room'], ROOM);
      assert.equal(move.data['url'], wsUrl(1), 'moved to the other node');
      const deadline = move.data['deadlineMs'];
      assert.ok(
        typeof deadline === 'number' && deadline >= asked + DRAIN_TIMEOUT_MS - 1_000,
        `the drain's deadline: ${String(deadline)}`,
      );
    }

    // A takes no one new: a join there is sent to B.
    const dave = await open(wsUrl(0));
    const refused = await dave.request('join', { room: ROOM, peer: 'dave' });
    assert.equal(refused.ok, false);
    assert.equal(refused.error?.code, 'moved');
    assert.equal((refused.error as { url?: string } | undefined)?.url, wsUrl(1));

    // Nor a WHIP/WHEP session, which could not be asked to move later: a
    // POST of the room is sent to B, though the room may still be homed on A.
    const whep = await fetch(`http://${formatHostPort(node(0).listen)}/whep/rooms/${ROOM}`, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp' },
      body: 'v=0\r\n',
      redirect: 'manual',
    });
    await whep.arrayBuffer();
    assert.equal(whep.status, 307, 'a WHEP POST at the draining node is redirected');
    assert.equal(
      whep.headers.get('location'),
      `http://${formatHostPort(node(1).listen)}/whep/rooms/${ROOM}`,
    );

    // Once B knows A drains, its answers name no door to A.
    await waitFor(
      async () => {
        const probe = await open(wsUrl(1));
        const answer = okData(await probe.request('join', { room: 'drain-probe' }));
        await probe.close();
        return Array.isArray(answer['doors']) && answer['doors'].length === 0 ? true : undefined;
      },
      10_000,
      () => "B's join answers to stop naming the draining A",
    );
    // A while longer (several of the drain's checks): A still serves alice and carol.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(drainOver, undefined, 'the drain lasts while A serves its peers');

    // Make before break: each moves to B under a new peer name, then leaves A.
    const aliceThere = await open(wsUrl(1));
    const aliceMoved = okData(await aliceThere.request('join', { room: ROOM, peer: 'alice-2' }));
    assert.ok(
      (aliceMoved['peers'] as { peer: string }[]).some((entry) => entry.peer === 'alice'),
      'her old self is still in the room (on A) when she joins B',
    );
    await alice.close();
    const carolThere = await open(wsUrl(1));
    okData(await carolThere.request('join', { room: ROOM, peer: 'carol-2', displayName: 'Carol' }));
    assert.equal(drainOver, undefined, 'carol is still on A');
    await carol.close();
    await dave.close();

    await drained;
    const took = performance.now() - started;
    assert.ok(took < DRAIN_TIMEOUT_MS / 2, `the drain ended once A was empty (${took} ms)`);
    console.log(`# drain-to-empty-ms: ${Math.round(took)}`);
    // bob saw his room mates come back from B and their old selves leave.
    const left = new Set<unknown>();
    for (let index = 0; index < 2; index += 1)
      left.add((await bob.event('peerLeft')).data?.['peer']);
    assert.deepEqual([...left].sort(), ['alice', 'carol']);
  });

  it("at the drain's deadline who is left is told to reconnect and leaves; the node stays up", async () => {
    // A drains already: B has nowhere to send its peers, so none is asked to move.
    const erin = await open(wsUrl(1));
    const frank = await open(wsUrl(1));
    okData(await erin.request('join', { room: ROOM, peer: 'erin' }));
    okData(await frank.request('join', { room: `${ROOM}-2`, peer: 'frank' }));
    // And a WHIP publisher, which nothing can ask to move.
    const publisher = await WhipPublisher.publish(`${httpBase(1)}/whip/${ROOM}-whip`, {
      timeoutMs: 30_000,
    });
    publishers.push(publisher);
    await publisher.connected();
    assert.equal(await whipSessions(1), 1, 'B holds the WHIP session');
    const asked = Date.now();
    const drained = node(1).drain(SHORT_DRAIN_MS);
    for (const client of [erin, frank]) {
      const reconnect = await client.event('reconnect');
      assert.ok(Date.now() >= asked + SHORT_DRAIN_MS, 'not before the deadline');
      assert.match(String(reconnect.data?.['reason']), /deadline/);
      // Out of the room: a request of a joined peer is refused.
      const answer = await client.request('getRouterRtpCapabilities');
      assert.equal(answer.error?.code, 'not_joined');
    }
    await drained;
    // The WHIP session ended with its room.
    await waitFor(
      async () => ((await whipSessions(1)) === 0 ? true : undefined),
      5_000,
      () => "B's WHIP session to end at the deadline",
    );
    // Up, empty and draining: a join is refused (A drains too), not unanswered.
    const late = await open(wsUrl(1));
    const refused = await late.request('join', { room: ROOM, peer: 'gina' });
    assert.equal(refused.error?.code, 'limit_exceeded');
  });
});
