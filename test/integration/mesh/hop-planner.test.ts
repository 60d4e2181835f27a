/**
 * Camera hops through the real control plane (startControlPlane) and three
 * scripted proxies on real gRPC over loopback: a proxy's hop request gives
 * a MEDIA_KEY resource to exactly the owner and the requester; a bad set
 * is dropped and counted while the stream carries on; GET /hops shows no
 * key; GET /streams/<path>/hops shows each hop's figures from the stats
 * reports the proxies send on their streams; a restarted control plane
 * that the proxies return their hops to sends them nothing new; and when
 * an owner fails its hops go and the new owner's come.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hopResourceName, parseConfigText } from '../../../src/config/index.js';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/index.js';
import type { HopsView, StreamHopsView } from '../../../src/control-plane/hops/index.js';
import type { PlacementsView } from '../../../src/control-plane/placement/index.js';
import { AdminCredentials } from '../../../src/shared/admin/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { newAdminToken } from '../../helpers/admin-token.js';
import { getJson, getText } from '../../helpers/http.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';
import { ScriptedProxy } from '../control-plane/scripted-proxy.js';

const HEARTBEAT_MS = 200;
/** Long enough for three scripted proxies to connect on a busy machine. */
const GRACE_MS = 1_500;
const CAM1 = 'camera/cam1';
const IDS = ['proxy-a', 'proxy-b', 'proxy-c'];

function configText(grpcPort: number, adminPort: number): string {
  return [
    'logLevel: silent',
    'controlPlane:',
    // Scripted nodes speak plaintext gRPC: this test is about the push protocol, not mTLS.
    '  mtls: false',
    `  admin: 127.0.0.1:${adminPort}`,
    `  grpc: 127.0.0.1:${grpcPort}`,
    `  heartbeatIntervalMs: ${HEARTBEAT_MS}`,
    '  staleAfterMissedHeartbeats: 3',
    '  hopKeyRotationSec: 3600',
    'proxy:',
    '  rtsp:',
    '    paths:',
    '      cam1: { source: "rtsp://127.0.0.1:9/cam1" }',
    '      cam2: { source: "rtsp://127.0.0.1:9/cam2" }',
  ].join('\n');
}

describe('camera hops through the control plane', () => {
  const token = newAdminToken();
  const proxies = new Map<string, ScriptedProxy>();
  let grpcPort: number;
  let adminPort: number;
  let plane: RunningControlPlane | undefined;
  /** cam1's owner and the two others, once placed. */
  let owner: ScriptedProxy;
  let edge: ScriptedProxy;
  let other: ScriptedProxy;

  const startPlane = async (): Promise<void> => {
    plane = await startControlPlane({
      config: parseConfigText(configText(grpcPort, adminPort), 'control plane'),
      log: createLogger('control-plane', 'silent'),
      credentials: AdminCredentials.ofToken(token),
      placementGraceMs: GRACE_MS,
    });
  };
  const admin = (path: string) => `http://127.0.0.1:${adminPort}${path}`;
  const hopsView = async (): Promise<HopsView> => (await getJson<HopsView>(admin('/hops'))).body;
  const metric = async (name: string, reason: string): Promise<number> => {
    const { text } = await getText(admin('/metrics'));
    const line = text
      .split('\n')
      .find((row) => row.startsWith(`${name}{`) && row.includes(`reason="${reason}"`));
    return line === undefined ? 0 : Number(line.split(' ')[1]);
  };
  const hopIds = (proxy: ScriptedProxy) => proxy.hops().map((body) => body.hopId);

  before(async () => {
    grpcPort = await freePort();
    adminPort = await freePort();
    await startPlane();
    let hopPort = 7100;
    for (const id of IDS) {
      hopPort += 2;
      const proxy = new ScriptedProxy({
        id,
        grpc: `127.0.0.1:${grpcPort}`,
        hopAddress: `127.0.0.1:${hopPort}`,
        heartbeatIntervalMs: HEARTBEAT_MS,
      });
      proxies.set(id, proxy);
      await proxy.connect();
    }
    const placed = await waitFor(
      async () => {
        const view = (await getJson<PlacementsView>(admin('/placements'))).body;
        const cam1 = view.placements.find(({ key }) => key === CAM1);
        if (view.restoring || cam1 === undefined) return undefined;
        // Every proxy holds the placements before the tests start.
        if (![...proxies.values()].every((proxy) => proxy.held.has(`PLACEMENT/${CAM1}`))) {
          return undefined;
        }
        return cam1.node;
      },
      10_000,
      () => 'camera/cam1 placed and pushed',
    );
    const ordered = [placed, ...IDS.filter((id) => id !== placed)].map((id) => proxies.get(id));
    const [first, second, third] = ordered;
    assert.ok(first && second && third);
    [owner, edge, other] = [first, second, third];
  });

  after(async () => {
    for (const proxy of proxies.values()) proxy.close();
    await plane?.close();
  });

  it("a request gives the hop's MEDIA_KEY to exactly the owner and the requester", async () => {
    edge.request([{ session: CAM1, address: '127.0.0.1:9200' }]);
    const hopId = hopResourceName(CAM1, owner.options.id, edge.options.id);
    await waitFor(
      () => (hopIds(owner).includes(hopId) && hopIds(edge).includes(hopId) ? true : undefined),
      5_000,
      () => `${hopId} at both ends`,
    );
    const [atOwner] = owner.hops();
    assert.deepEqual(edge.hops(), [atOwner], 'both ends hold one and the same body');
    assert.ok(atOwner);
    assert.equal(atOwner.senderAddress, owner.options.hopAddress);
    assert.equal(atOwner.receiverAddress, '127.0.0.1:9200');
    assert.deepEqual(
      atOwner.keys.map((key) => key.epoch),
      [1],
    );
    assert.equal(atOwner.sendEpoch, 1);
    // Some passes later the third proxy still has been sent no MEDIA_KEY.
    await new Promise((resolve) => setTimeout(resolve, 4 * HEARTBEAT_MS));
    assert.deepEqual(other.hopUpdates(), []);
    const view = await hopsView();
    assert.deepEqual(
      view.hops.map(({ hopId: id, sender, receiver }) => ({ id, sender, receiver })),
      [{ id: hopId, sender: owner.options.id, receiver: edge.options.id }],
    );
  });

  it('a bad request set is dropped as a whole and counted; the stream and the hop stay', async () => {
    const name = 'streammesh_control_plane_bad_hop_requests_total';
    const before = await metric(name, 'unknown_session');
    const badAddress = await metric(name, 'bad_address');
    const updates = edge.updates.length;
    edge.request([
      { session: CAM1, address: '127.0.0.1:9200' },
      { session: 'camera/nope', address: '127.0.0.1:9202' },
    ]);
    edge.request([{ session: CAM1, address: 'no port' }]);
    await waitFor(
      async () =>
        (await metric(name, 'unknown_session')) === before + 1 &&
        (await metric(name, 'bad_address')) === badAddress + 1
          ? true
          : undefined,
      5_000,
      () => 'both bad sets counted',
    );
    await new Promise((resolve) => setTimeout(resolve, 4 * HEARTBEAT_MS));
    assert.equal(edge.updates.length, updates, 'nothing was sent for them');
    assert.equal((await hopsView()).hops.length, 1, 'the hop stays');
    // The stream carries on: a good set is taken (a new receiving address, same keys).
    const keys = edge.hops()[0]?.keys;
    edge.request([{ session: CAM1, address: '127.0.0.1:9202' }]);
    await waitFor(
      () => (edge.hops()[0]?.receiverAddress === '127.0.0.1:9202' ? true : undefined),
      5_000,
      () => 'the good set taken',
    );
    assert.deepEqual(edge.hops()[0]?.keys, keys);
  });

  it('GET /hops shows epochs and expiry, never key material', async () => {
    const { text } = await getText(admin('/hops'));
    const keys = [...proxies.values()].flatMap((proxy) =>
      proxy.hops().flatMap((body) => body.keys.map((key) => key.key)),
    );
    assert.ok(keys.length > 0);
    for (const key of keys) assert.ok(!text.includes(key), 'a key in /hops');
    assert.ok(!/"key"\s*:/.test(text));
    const view = JSON.parse(text) as HopsView;
    const [shown] = view.hops;
    assert.ok(shown);
    assert.deepEqual(
      shown.keys.map(({ epoch }) => epoch),
      [1],
    );
    assert.ok(Date.parse(shown.keys[0]?.notAfter ?? '') > Date.now() + 3 * 3_500_000);
  });

  it('GET /streams/<path>/hops shows the path hop by hop from the stats reports', async () => {
    const hopId = hopResourceName(CAM1, owner.options.id, edge.options.id);
    const track = (figures: Record<string, number>) => ({
      path: 'cam1',
      track: 0,
      kind: 'video',
      upstream: 'playing',
      ssrc: 1,
      bytes: 0,
      lost: 0,
      bitrateBps: 0,
      ...figures,
    });
    const hopStats = (role: string, peer: string, figures: Record<string, number | null>) => ({
      hopId,
      session: CAM1,
      role,
      peer,
      rtpPackets: 0,
      lossFraction: 0,
      jitterMs: 0,
      rttMs: null,
      drops: 0,
      ...figures,
    });
    owner.sendStats({
      at: new Date().toISOString(),
      relay: [],
      rtsp: [track({ packets: 1000, lossFraction: 0.001, jitterMs: 2, viewers: 1 })],
      omitted: 0,
      hops: [hopStats('sender', edge.options.id, { rtpPackets: 990, rttMs: 4 })],
    });
    edge.sendStats({
      at: new Date().toISOString(),
      relay: [],
      rtsp: [track({ packets: 900, lossFraction: 0.09, jitterMs: 30, viewers: 3 })],
      omitted: 0,
      hops: [
        hopStats('receiver', owner.options.id, {
          rtpPackets: 900,
          lossFraction: 0.09,
          jitterMs: 30,
          drops: 2,
        }),
      ],
    });
    const view = await waitFor(
      async () => {
        const { body } = await getJson<StreamHopsView>(admin('/streams/cam1/hops'));
        const viewers = body.hops.filter((hop) => hop.kind === 'viewers');
        return viewers.length === 2 ? body : undefined;
      },
      5_000,
      () => 'both reports in the path view',
    );
    assert.deepEqual(view, {
      path: 'cam1',
      session: CAM1,
      owner: owner.options.id,
      hops: [
        {
          from: 'camera',
          to: owner.options.id,
          kind: 'camera',
          lossFraction: 0.001,
          jitterMs: 2,
          packets: 1000,
        },
        {
          from: owner.options.id,
          to: edge.options.id,
          kind: 'proxy',
          hopId,
          lossFraction: 0.09,
          jitterMs: 30,
          rttMs: 4,
          packets: 900,
          drops: 2,
        },
        { from: owner.options.id, to: 'viewers', kind: 'viewers', viewers: 1 },
        { from: edge.options.id, to: 'viewers', kind: 'viewers', viewers: 3 },
      ],
    });
    const unknown = await getJson<{ error: string }>(admin('/streams/nope/hops'));
    assert.equal(unknown.status, 404);
    assert.equal(typeof unknown.body.error, 'string');
  });

  it('a restarted control plane given the hops back in Hellos sends nothing new for them', async () => {
    const heldBefore = new Map([...proxies].map(([id, proxy]) => [id, proxy.hops()]));
    assert.ok((heldBefore.get(edge.options.id) ?? []).length > 0);
    const shownBefore = (await hopsView()).hops.map(({ hopId, keys, sendEpoch }) => ({
      hopId,
      keys,
      sendEpoch,
    }));
    for (const proxy of proxies.values()) proxy.close();
    await plane?.close();
    await startPlane();
    const updatesBefore = new Map([...proxies].map(([id, proxy]) => [id, proxy.updates.length]));
    for (const proxy of proxies.values()) {
      await proxy.connect();
      proxy.requestAgain();
    }
    // Past the grace, and some passes after it.
    await waitFor(
      async () => ((await hopsView()).restoring ? undefined : true),
      10_000,
      () => 'the grace period over',
    );
    await new Promise((resolve) => setTimeout(resolve, 5 * HEARTBEAT_MS));
    for (const [id, proxy] of proxies) {
      const since = proxy.updates.slice(updatesBefore.get(id));
      const hopChanges = since.filter(
        ({ update }) =>
          update.resources.some((resource) => resource.type === 'MEDIA_KEY') ||
          update.removed.some((ref) => ref.type === 'MEDIA_KEY'),
      );
      assert.deepEqual(hopChanges, [], `${id} was sent no MEDIA_KEY change`);
      assert.deepEqual(proxy.hops(), heldBefore.get(id), `${id} holds the same hops and keys`);
    }
    const shownAfter = (await hopsView()).hops;
    assert.deepEqual(
      shownAfter.map(({ hopId, keys, sendEpoch }) => ({ hopId, keys, sendEpoch })),
      shownBefore,
    );
    assert.ok(
      shownAfter.every(({ state }) => state === 'active'),
      'asked for again: active',
    );
  });

  it("an owner that fails: once stale its hops go at once and the new owner's come", async () => {
    other.request([{ session: CAM1, address: '127.0.0.1:9300' }]);
    await waitFor(
      () => (other.hops().length === 1 ? true : undefined),
      5_000,
      () => 'a hop to the third proxy too',
    );
    owner.close();
    const moved = await waitFor(
      async () => {
        const view = (await getJson<PlacementsView>(admin('/placements'))).body;
        const cam1 = view.placements.find(({ key }) => key === CAM1);
        return cam1 !== undefined && cam1.node !== owner.options.id ? cam1 : undefined;
      },
      10_000,
      () => 'camera/cam1 moved off its failed owner',
    );
    assert.equal(moved.reason, 'node_failed');
    const [newOwner, receiver] = moved.node === edge.options.id ? [edge, other] : [other, edge];
    const newHop = hopResourceName(CAM1, moved.node, receiver.options.id);
    await waitFor(
      () =>
        JSON.stringify(hopIds(receiver).filter((id) => id.startsWith(CAM1))) ===
          JSON.stringify([newHop]) &&
        JSON.stringify(hopIds(newOwner).filter((id) => id.startsWith(CAM1))) ===
          JSON.stringify([newHop])
          ? true
          : undefined,
      5_000,
      () => `only ${newHop} at both ends`,
    );
    // The old hop left no later than the new one came.
    const updates = receiver.hopUpdates();
    const oldHop = hopResourceName(CAM1, owner.options.id, receiver.options.id);
    const removedAt = updates.findIndex(({ removed }) => removed.includes(oldHop));
    const addedAt = updates.findIndex(({ changed }) =>
      changed.some((body) => body.hopId === newHop),
    );
    assert.ok(removedAt >= 0 && addedAt >= 0 && removedAt <= addedAt);
    const view = await hopsView();
    assert.ok(view.hops.every(({ sender }) => sender !== owner.options.id));
  });
});
