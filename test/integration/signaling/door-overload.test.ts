/**
 * An overloaded signaling node sends a WebSocket join to the room's home
 * (issue 18 point 3: a room spans nodes when its peers exceed
 * maxPeersPerNode "or its node is overloaded"; signaling/server/door.ts),
 * everything real: an in-process control plane with mutual TLS and two
 * `startSignaling` nodes on 127.0.0.71-72 (startSignalingMesh), werift
 * publishers, clients speaking the protocol over real WebSockets.
 *
 * Both nodes declare `capacity.sessions: 1`. A room homed on one node (H;
 * the other is the door D): a join at D is served while D is idle; once D
 * carries two producers (its load report over its declared capacity, the
 * control plane's rule for "overloaded"), a join at the node that is not
 * H is answered `moved` with H's WebSocket URL, and joining there works. The rows of test/unit/signaling/door.test.ts hold the rest
 * (an overloaded home serves; overload alone never refuses).
 *
 * In one process the census, and so the sessions each node reports, counts
 * both nodes' producers: H is over its capacity too, which changes nothing
 * for H (the room's home serves its room however busy), but the control
 * plane may move the room's home off it (overloaded): the test reads the
 * home at each probe.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunningSignaling } from '../../../signaling/index.js';
import { stopAllPeers } from '../../helpers/peers/process.js';
import { WeriftPublisher, signalingChannel } from '../../helpers/peers/werift-signaling.js';
import { waitFor } from '../../helpers/process.js';
import { SignalingClient, SignalingClients, type Frame } from '../../helpers/signaling-client.js';
import {
  roomHomes,
  waitForFullDirectory,
  waitForRoomPlacement,
} from '../../helpers/signaling-mesh-admin.js';
import { startSignalingMesh, wsUrlOf, type SignalingMesh } from '../../helpers/signaling-mesh.js';

const LOG_LEVEL = process.env['DOOR_TEST_LOG'] ?? 'silent';
const NODES = [
  { id: 'sfu-a', host: '127.0.0.71', rtcPorts: [43910, 43959] as const },
  { id: 'sfu-b', host: '127.0.0.72', rtcPorts: [43960, 44009] as const },
] as const;
const NODE_IDS = NODES.map((entry) => entry.id);

describe('an overloaded signaling node sends joins to the room’s home', { timeout: 90_000 }, () => {
  let mesh: SignalingMesh | undefined;
  const clients = new SignalingClients();
  const publishers: WeriftPublisher[] = [];

  const node = (index: 0 | 1): RunningSignaling => {
    const running = mesh?.nodes[index];
    assert.ok(running !== undefined);
    return running;
  };
  const wsUrl = (index: 0 | 1): string => wsUrlOf(node(index));
  const adminUrl = (): string => {
    assert.ok(mesh !== undefined);
    return mesh.adminUrl;
  };
  const open = (url: string): Promise<SignalingClient> => clients.open(url);
  const join = async (index: 0 | 1, room: string, peer: string): Promise<Frame> =>
    (await open(wsUrl(index))).request('join', { room, peer });

  before(async () => {
    mesh = await startSignalingMesh({
      prefix: 'door-overload',
      nodes: NODES,
      // Pushed to every node by the control plane, so set on both sides.
      signaling: ['  capacity: { sessions: 1 }'],
      logLevel: LOG_LEVEL,
    });
    await waitForFullDirectory(adminUrl(), NODE_IDS);
  });

  after(async () => {
    await Promise.all(publishers.map((publisher) => publisher.close().catch(() => undefined)));
    await clients.closeAll();
    await stopAllPeers();
    await mesh?.close();
  });

  it('serves a join while idle, and sends it to the home once over its capacity', async () => {
    const room = 'overload-r';
    /** The node the room is homed on now (0 or 1), and the other one: the door under test. */
    const placesNow = async (): Promise<{ home: 0 | 1; door: 0 | 1 }> => {
      const homeId = (await roomHomes(adminUrl())).get(room);
      const home = NODE_IDS.findIndex((id) => id === homeId);
      assert.ok(home === 0 || home === 1, `the room is homed on one of the nodes: ${homeId}`);
      return { home, door: home === 0 ? 1 : 0 };
    };
    // alice opens the room on A; its home is either node (placement hashes the name).
    const opened = await join(0, room, 'alice');
    assert.equal(opened.ok, true, JSON.stringify(opened.error));
    await waitForRoomPlacement(adminUrl(), NODE_IDS, room);
    const { door } = await placesNow();

    // Idle: the door serves the room (and so holds it with the home).
    const idle = await join(door, room, 'carol');
    assert.equal(idle.ok, true, `an idle node serves: ${JSON.stringify(idle.error)}`);

    // Two producers at the door: two sessions over a capacity of one.
    for (const peer of ['p1', 'p2']) {
      const client = await open(wsUrl(door));
      const joined = await client.request('join', { room: 'busy', peer });
      assert.equal(joined.ok, true, JSON.stringify(joined.error));
      publishers.push(await WeriftPublisher.publish(signalingChannel(client)));
    }

    // The next load report (every second) says the nodes are over (both:
    // the census is shared): a join at the node that is not the room's home
    // goes to the home. The control plane may move the home meanwhile (its
    // node is overloaded too), so each probe reads where it is now; a probe
    // that was served leaves at once, so the room stays small.
    const { moved, home } = await waitFor(
      async () => {
        const now = await placesNow();
        const probe = await SignalingClient.open(wsUrl(now.door));
        const answer = await probe.request('join', { room, peer: 'probe' });
        await probe.close();
        return answer.ok === false ? { moved: answer, home: now.home } : undefined;
      },
      10_000,
      () => 'a join at an overloaded node that is not the home to be sent elsewhere',
    );
    assert.equal(moved.error?.code, 'moved', JSON.stringify(moved.error));
    assert.equal(
      (moved.error as { url?: string } | undefined)?.url,
      wsUrl(home),
      "the room's home",
    );

    // The home takes it, however busy.
    const there = await join(home, room, 'dave');
    assert.equal(there.ok, true, `the home serves: ${JSON.stringify(there.error)}`);
  });
});
