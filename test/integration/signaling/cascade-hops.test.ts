/**
 * The pipe hop of a room across two signaling nodes in the control plane's
 * hop view (issue 18 point 6, E3), everything real, set up as
 * cascade.test.ts does: an in-process control plane with mutual TLS, two
 * `startSignaling` nodes (127.0.0.21 and .22, one mediasoup worker each,
 * cascade links over mTLS), werift peers and GStreamer's VP8.
 *
 * A publisher joins h1 on A, a subscriber on B consumes it: RTP crosses the
 * pipe. GET /rooms/h1/hops then shows the A -> B pipe hop with one producer,
 * packets > 0 and an RTT, read from the nodes' own stats reports (their
 * pipe Producer and pipe Consumer stats); B -> A carries nothing. A room no
 * node reports answers 404.
 *
 * Both nodes run in this one process, and the media stats collector reads
 * the process-wide census, so each node's report holds both nodes' streams
 * here. The test therefore checks the pipe hop, which the view reads by
 * pipe, end and direction, and not the publishers and viewers (one node per
 * process in use, where this does not happen).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RoomHopsView } from '../../../src/control-plane/rooms/room-hops.js';
import type { RunningSignaling } from '../../../signaling/index.js';
import { getJson } from '../../helpers/http.js';
import { waitFor } from '../../helpers/process.js';
import { startSignalingMesh, wsUrlOf, type SignalingMesh } from '../../helpers/signaling-mesh.js';
import { stopAllPeers } from '../../helpers/peers/process.js';
import {
  RtpFanIn,
  WeriftPublisher,
  WeriftSubscriber,
  SMALL_VP8,
  signalingChannel,
  startFannedVideo,
} from '../../helpers/peers/werift-signaling.js';
import { SignalingClient, SignalingClients } from '../../helpers/signaling-client.js';

const LOG_LEVEL = process.env['CASCADE_TEST_LOG'] ?? 'silent';
const NODES = [
  { id: 'sfu-a', host: '127.0.0.21', rtcPorts: [43210, 43259] as const },
  { id: 'sfu-b', host: '127.0.0.22', rtcPorts: [43260, 43309] as const },
] as const;
const ROOM = 'h1';
const PIPE = `pipe/${ROOM}/sfu-a~sfu-b`;

describe('the pipe hop of a room across two signaling nodes', { timeout: 90_000 }, () => {
  let mesh: SignalingMesh | undefined;
  let nodes: readonly RunningSignaling[] = [];
  const clients = new SignalingClients();
  const peers: { close(): Promise<void> }[] = [];
  let source: RtpFanIn | undefined;

  const adminUrl = (): string => {
    assert.ok(mesh !== undefined);
    return mesh.adminUrl;
  };

  const join_ = (
    node: RunningSignaling,
    peer: string,
  ): Promise<[SignalingClient, Record<string, unknown>]> =>
    clients.joined(wsUrlOf(node), ROOM, peer);

  before(async () => {
    mesh = await startSignalingMesh({ prefix: 'cascade-hops', nodes: NODES, logLevel: LOG_LEVEL });
    nodes = mesh.nodes;
    source = await startFannedVideo({ ...SMALL_VP8, timeoutMs: 85_000 });
  });

  after(async () => {
    await Promise.all(peers.map((peer) => peer.close().catch(() => undefined)));
    await clients.closeAll();
    source?.close();
    await stopAllPeers();
    await mesh?.close();
  });

  it('shows the A -> B pipe hop with packets and an RTT from the nodes’ stats', async () => {
    const [a, b] = nodes;
    assert.ok(a !== undefined && b !== undefined && source !== undefined);
    const video = source;
    await video.sending();

    const missing = await getJson<{ error: string }>(`${adminUrl()}/rooms/${ROOM}/hops`);
    assert.equal(missing.status, 404, 'no node reports the room yet');

    const [aliceWs] = await join_(a, 'alice');
    const alice = await WeriftPublisher.publish(signalingChannel(aliceWs));
    peers.push(alice);
    video.add((packet) => alice.writeRtp(packet));

    // bob on B learns of alice's producer (from the answer, else as an event) and consumes it.
    const [bobWs, bobJoin] = await join_(b, 'bob');
    const listed = (bobJoin['producers'] as { producerId: string }[]).some(
      (p) => p.producerId === alice.producerId,
    );
    if (!listed) {
      const frame = await bobWs.event('newProducer');
      assert.equal(frame.data?.['producerId'], alice.producerId);
    }
    const bob = await WeriftSubscriber.open(signalingChannel(bobWs));
    peers.push(bob);
    const [bobGets] = await bob.consume([alice.producerId]);
    assert.ok(bobGets !== undefined);
    await waitFor(
      () => (bobGets.received > 20 ? true : undefined),
      15_000,
      () => `RTP through the pipe (${bobGets.received})`,
    );

    // The control plane's hop view: the pipe hop, measured, within a bounded wait.
    let last: RoomHopsView | undefined;
    const hop = await waitFor(
      async () => {
        const { status, body } = await getJson<RoomHopsView>(`${adminUrl()}/rooms/${ROOM}/hops`);
        if (status !== 200) return undefined;
        last = body;
        const found = body.hops.find((h) => h.from === 'sfu-a' && h.to === 'sfu-b');
        return found !== undefined &&
          found.packets !== null &&
          found.packets > 0 &&
          found.rttMs !== null
          ? found
          : undefined;
      },
      20_000,
      () => `GET /rooms/${ROOM}/hops shows the A -> B hop measured: ${JSON.stringify(last)}`,
    );
    assert.equal(hop.kind, 'pipe');
    assert.equal(hop.pipeId, PIPE);
    assert.equal(hop.producers, 1, 'alice’s one producer crosses A -> B');
    assert.equal(typeof hop.rttMs, 'number');
    assert.ok(Number.isFinite(hop.rttMs) && (hop.rttMs ?? -1) >= 0, `rtt ${hop.rttMs}`);
    assert.ok(hop.lossFraction !== null && hop.lossFraction >= 0 && hop.lossFraction <= 1);
    assert.ok(hop.jitterMs !== null && hop.jitterMs >= 0);
    assert.ok(last !== undefined);
    const back = last.hops.find((h) => h.from === 'sfu-b' && h.to === 'sfu-a');
    assert.deepEqual(
      back && [back.pipeId, back.producers, back.packets],
      [PIPE, 0, null],
      'nothing is piped B -> A',
    );
    assert.deepEqual(
      last.nodes.map((node) => node.node),
      ['sfu-a', 'sfu-b'],
    );
    assert.ok(last.home === 'sfu-a' || last.home === 'sfu-b', `home ${String(last.home)}`);
    // The view shows no key, and figures only.
    assert.doesNotMatch(JSON.stringify(last), /keyBase64|srtp/i);
  });
});
