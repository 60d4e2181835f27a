/**
 * Any signaling node is a door (issue 18 point 2, signaling/server/door.ts),
 * everything real: an in-process control plane with mutual TLS, three
 * `startSignaling` nodes on 127.0.0.21-23 (one mediasoup worker each, their
 * own RTC ports, cascade links over mTLS), `signaling.maxPeersPerNode: 1`,
 * werift peers and GStreamer's VP8. sfu-c runs with
 * `signaling.cascade.httpRedirect: false`; the others with the default.
 *
 * alice publishes on A in a room the control plane homed on A (the first
 * of a few candidate names it places there):
 * - a WHEP viewer POSTing to B is sent to A by a 307 whose Location keeps
 *   the path and query, follows it and receives video with key frames; B
 *   never holds the room;
 * - a WHEP viewer POSTing to C (httpRedirect off) is served at C: C holds
 *   the room (alice's members see no one join) and pipes alice's producer
 *   in; the room leaves C with the viewer.
 * Then bob joins a room on B; carol's join there is past maxPeersPerNode and
 * answered `moved` with the WebSocket URL of the room's home (or of sfu-a
 * when B is the home), and her join there lists bob.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { httpUrl } from '../../../src/shared/address.js';
import type { RunningSignaling } from '../../../signaling/index.js';
import { waitFor } from '../../helpers/process.js';
import { startSignalingMesh, wsUrlOf, type SignalingMesh } from '../../helpers/signaling-mesh.js';
import {
  joinRoomHomedOn,
  roomHomes,
  waitForFullDirectory,
  waitForRoomPlacement,
} from '../../helpers/signaling-mesh-admin.js';
import { stopAllPeers } from '../../helpers/peers/process.js';
import {
  RtpFanIn,
  WeriftPublisher,
  SMALL_VP8,
  signalingChannel,
  startFannedVideo,
} from '../../helpers/peers/werift-signaling.js';
import { WhepViewer } from '../../helpers/peers/werift-whip.js';
import { SignalingClient, SignalingClients, okData } from '../../helpers/signaling-client.js';

const LOG_LEVEL = process.env['DOOR_TEST_LOG'] ?? 'silent';
const NODES = [
  { id: 'sfu-a', host: '127.0.0.21', rtcPorts: [43410, 43459] as const, httpRedirect: true },
  { id: 'sfu-b', host: '127.0.0.22', rtcPorts: [43460, 43509] as const, httpRedirect: true },
  { id: 'sfu-c', host: '127.0.0.23', rtcPorts: [43510, 43559] as const, httpRedirect: false },
] as const;
/** Room names tried until one is homed on sfu-a (placement hashes the name over three nodes). */
const CANDIDATES = Array.from({ length: 12 }, (_, index) => `door-${index}`);

describe('any signaling node is a door', { timeout: 90_000 }, () => {
  let mesh: SignalingMesh | undefined;
  const clients = new SignalingClients();
  const peers: { close(): Promise<void> }[] = [];
  const viewers: WhepViewer[] = [];
  let source: RtpFanIn | undefined;

  const node = (id: string): RunningSignaling => {
    assert.ok(mesh !== undefined);
    return mesh.node(id);
  };
  const wsUrl = (id: string): string => wsUrlOf(node(id));
  const httpBase = (id: string): string => httpUrl(node(id).listen);
  const adminUrl = (): string => {
    assert.ok(mesh !== undefined);
    return mesh.adminUrl;
  };
  const holds = (id: string, room: string): boolean =>
    node(id)
      .roomCascade.reports()
      .some((entry) => entry.room === room);

  const open = (url: string): Promise<SignalingClient> => clients.open(url);

  const nodeIds = NODES.map((entry) => entry.id);
  /** Waits until every node holds (acked) `room`'s placement: their doors know its home. */
  const placedEverywhere = (room: string): Promise<void> =>
    waitForRoomPlacement(adminUrl(), nodeIds, room);

  before(async () => {
    mesh = await startSignalingMesh({
      prefix: 'door',
      nodes: NODES.map((entry) => ({
        ...entry,
        cascade: `pipeLingerMs: 500, httpRedirect: ${entry.httpRedirect}`,
      })),
      // Pushed to every node by the control plane, so set on both sides.
      signaling: ['  maxPeersPerNode: 1'],
      logLevel: LOG_LEVEL,
    });
    // Each node's directory names all three (the doors choose among them).
    await waitForFullDirectory(adminUrl(), nodeIds);
    source = await startFannedVideo({ ...SMALL_VP8, timeoutMs: 85_000 });
  });

  after(async () => {
    await Promise.all(viewers.map((viewer) => viewer.close().catch(() => undefined)));
    await Promise.all(peers.map((peer) => peer.close().catch(() => undefined)));
    await clients.closeAll();
    source?.close();
    await stopAllPeers();
    await mesh?.close();
  });

  it('WHEP through a node without the room: a 307 to its home, or cascaded with httpRedirect off', async () => {
    assert.ok(source !== undefined);
    const video = source;
    await video.sending();

    // alice joins each candidate room on A; the first homed on A is kept.
    const kept = await joinRoomHomedOn({
      adminUrl: adminUrl(),
      home: 'sfu-a',
      candidates: CANDIDATES,
      peer: 'alice',
      open: () => open(wsUrl('sfu-a')),
    });
    const room = kept.room;
    const alice = await WeriftPublisher.publish(signalingChannel(kept.client));
    peers.push(alice);
    video.add((packet) => alice.writeRtp(packet));
    await placedEverywhere(room);

    // (a) B redirects: the offer goes to A, the query kept.
    const atB = await WhepViewer.watch(`${httpBase('sfu-b')}/whep/rooms/${room}/alice?jwt=t1`, {
      audio: false,
    });
    viewers.push(atB);
    assert.deepEqual(atB.redirects, [`${httpBase('sfu-a')}/whep/rooms/${room}/alice?jwt=t1`]);
    assert.ok(atB.location.startsWith(`${httpBase('sfu-a')}/whep/session/`), atB.location);
    await atB.waitFor(
      (got) => got.video.packets > 10 && got.video.keyframes > 0,
      'WHEP video from A after the redirect',
    );
    assert.equal(holds('sfu-b', room), false, 'B never held the room');
    await atB.close();

    // (b) C serves it (httpRedirect off) by holding the room and cascading.
    const atC = await WhepViewer.watch(`${httpBase('sfu-c')}/whep/rooms/${room}/alice`, {
      audio: false,
    });
    viewers.push(atC);
    assert.deepEqual(atC.redirects, [], 'no redirect with httpRedirect off');
    assert.ok(atC.location.startsWith('http://127.0.0.23:'), atC.location);
    await atC.waitFor(
      (got) => got.video.packets > 10 && got.video.keyframes > 0,
      'WHEP video of a peer on A, at C',
    );
    assert.equal(holds('sfu-c', room), true, 'C holds the room for its viewer');
    const atCStats = node('sfu-c')
      .roomCascade.stats()
      .find((entry) => entry.room === room);
    assert.equal(atCStats?.pipedIn, 1, 'alice’s producer piped to C once');
    await atC.close();
    await waitFor(
      () => (holds('sfu-c', room) ? undefined : true),
      5_000,
      () => 'the room leaves C with its viewer',
    );
    // The viewer was a member no one was shown.
    await assert.rejects(
      kept.client.take((frame) => frame.event === 'peerJoined', 'peerJoined'),
      /timed out/,
    );
  });

  it('a WebSocket join past maxPeersPerNode is moved to the room’s home, and works there', async () => {
    const room = 'door-ws';
    const bob = await open(wsUrl('sfu-b'));
    okData(await bob.request('join', { room, peer: 'bob' }));
    await placedEverywhere(room);
    const home = (await roomHomes(adminUrl())).get(room);
    assert.ok(home !== undefined);
    const target = home === 'sfu-b' ? 'sfu-a' : home;

    const carolAtB = await open(wsUrl('sfu-b'));
    const refused = await carolAtB.request('join', { room, peer: 'carol' });
    assert.equal(refused.ok, false);
    const error = refused.error as { code: string; message: string; url?: string };
    assert.equal(error.code, 'moved', JSON.stringify(error));
    assert.equal(error.url, wsUrl(target), `moved to ${target} (home ${home})`);
    await carolAtB.close();

    const carol = await open(error.url);
    const answer = okData(await carol.request('join', { room, peer: 'carol' }));
    assert.deepEqual(
      (answer['peers'] as { peer: string }[]).map((p) => p.peer),
      ['bob'],
      'carol’s answer on the other node lists bob (cascaded)',
    );
    assert.equal((await bob.event('peerJoined')).data?.['peer'], 'carol');
  });
});
