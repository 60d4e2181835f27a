/**
 * A drain's camera handover through the whole control plane (issue 16,
 * item 5): startControlPlane in this process, its real PlacementService,
 * HopPlanner and push over gRPC, and three scripted proxies (no media
 * plane). One camera; the two proxies that do not own it both watch it over
 * hops. `POST /nodes/<owner>/drain` moves the camera with node_drained to
 * one of them (the new owner); the other stays an edge. In the order the
 * edges need for no gap: the new owner is told it owns the camera and
 * holds its hop to the edge, the edge holds both hops, and only after the
 * new owner ACKed its hop (plus the handover time) is the drained owner's
 * hop removed, at the edge and at the drained owner.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hopResourceName, parseConfigText } from '../../../src/config/index.js';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/index.js';
import type { PlacementsView } from '../../../src/control-plane/placement/index.js';
import { AdminCredentials } from '../../../src/shared/admin/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { bearer, newAdminToken } from '../../helpers/admin-token.js';
import { getJson } from '../../helpers/http.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';
import { ScriptedProxy } from '../control-plane/scripted-proxy.js';

const HEARTBEAT_MS = 200;
const GRACE_MS = 1_000;
const HANDOVER_MS = 500;
const CAM = 'camera/cam1';
const IDS = ['proxy-a', 'proxy-b', 'proxy-c'];

describe("a drain's camera handover through the control plane", () => {
  const token = newAdminToken();
  const proxies = new Map<string, ScriptedProxy>();
  let plane: RunningControlPlane;
  let adminUrl: string;

  const proxy = (id: string): ScriptedProxy => {
    const found = proxies.get(id);
    assert.ok(found, id);
    return found;
  };
  const placement = async () =>
    (await getJson<PlacementsView>(`${adminUrl}/placements`)).body.placements.find(
      ({ key }) => key === CAM,
    );
  const held = (id: string): string[] =>
    proxy(id)
      .hops()
      .map(({ hopId }) => hopId);

  before(async () => {
    const grpcPort = await freePort();
    const adminPort = await freePort();
    adminUrl = `http://127.0.0.1:${adminPort}`;
    const config = [
      'logLevel: silent',
      'controlPlane:',
      // Scripted nodes speak plaintext gRPC: this test is about the push protocol, not mTLS.
      '  mtls: false',
      `  admin: 127.0.0.1:${adminPort}`,
      `  grpc: 127.0.0.1:${grpcPort}`,
      `  heartbeatIntervalMs: ${HEARTBEAT_MS}`,
      'proxy:',
      '  rtsp:',
      '    paths:',
      '      cam1: { source: "rtsp://127.0.0.1:9/cam1" }',
    ].join('\n');
    plane = await startControlPlane({
      config: parseConfigText(config, 'drain handover test'),
      log: createLogger('control-plane', 'silent'),
      credentials: AdminCredentials.ofToken(token),
      placementGraceMs: GRACE_MS,
      hopHandoverMs: HANDOVER_MS,
    });
    for (const [index, id] of IDS.entries()) {
      const scripted = new ScriptedProxy({
        id,
        grpc: `127.0.0.1:${grpcPort}`,
        hopAddress: `127.0.0.1:${7600 + 2 * index}`,
        heartbeatIntervalMs: HEARTBEAT_MS,
      });
      proxies.set(id, scripted);
      await scripted.connect();
    }
  });

  after(async () => {
    for (const scripted of proxies.values()) scripted.close();
    await plane.close();
  });

  it('the new owner holds the camera and its hop before the edge lets the old hop go', async () => {
    const first = await waitFor(placement, 10_000, () => 'the camera placed');
    const owner = first.node;
    const watchers = IDS.filter((id) => id !== owner);
    for (const [index, id] of watchers.entries()) {
      proxy(id).request([{ session: CAM, address: `127.0.0.1:${9600 + 2 * index}` }]);
    }
    await waitFor(
      () =>
        watchers.every((id) => held(id).includes(hopResourceName(CAM, owner, id)))
          ? true
          : undefined,
      5_000,
      () => 'a hop from the owner to each watcher',
    );

    const drain = await fetch(`${adminUrl}/nodes/${owner}/drain`, {
      method: 'POST',
      headers: bearer(token),
      body: '{"deadlineSec": 60}',
    });
    assert.equal(drain.status, 202);
    const moved = await waitFor(
      async () => {
        const now = await placement();
        return now !== undefined && now.node !== owner ? now : undefined;
      },
      5_000,
      () => 'the camera moved off the drained owner',
    );
    assert.equal(moved.reason, 'node_drained');
    const successor = moved.node;
    const edge = watchers.find((id) => id !== successor);
    assert.ok(edge !== undefined && watchers.includes(successor));
    const oldHop = hopResourceName(CAM, owner, edge);
    const newHop = hopResourceName(CAM, successor, edge);

    await waitFor(
      () => (held(edge).length === 1 && held(edge)[0] === newHop ? true : undefined),
      5_000 + HANDOVER_MS,
      () => `the edge left with ${newHop} only; it holds ${held(edge).join(', ')}`,
    );
    const edgeUpdates = proxy(edge).hopUpdates();
    const added = edgeUpdates.find(({ changed }) => changed.some(({ hopId }) => hopId === newHop));
    const removed = edgeUpdates.find(({ removed: gone }) => gone.includes(oldHop));
    assert.ok(added && removed);
    assert.ok(added.at < removed.at, 'the edge held both hops before the old one went');

    // The new owner was told it owns the camera, and ACKed its hop, before the edge let go.
    const successorUpdates = proxy(successor).updates;
    const toldOwner = successorUpdates.find(({ update }) =>
      update.resources.some(
        (resource) =>
          resource.type === 'PLACEMENT' &&
          resource.name === CAM &&
          (JSON.parse(resource.bodyJson) as { node: string }).node === successor,
      ),
    );
    assert.ok(toldOwner && toldOwner.at < removed.at, 'the new owner knew before the switch');
    const hopUpdate = successorUpdates.find(({ update }) =>
      update.resources.some(
        (resource) => resource.type === 'MEDIA_KEY' && resource.name === newHop,
      ),
    );
    assert.ok(hopUpdate);
    const hopAck = proxy(successor).acks.find(({ nonce }) => nonce === hopUpdate.update.nonce);
    assert.ok(hopAck, 'the new owner ACKed its hop');
    // Date.now() (the planner's clock) and performance.now() may differ by a few ms.
    assert.ok(
      removed.at - hopAck.at >= HANDOVER_MS - 20,
      `old hop removed ${Math.round(removed.at - hopAck.at)} ms after the new owner held its hop`,
    );

    // The drained owner lets go of every hop; it was told it is draining, the others were not.
    await waitFor(
      () => (held(owner).length === 0 ? true : undefined),
      5_000 + HANDOVER_MS,
      () => `the drained owner still holds ${held(owner).join(', ')}`,
    );
    assert.ok(proxy(owner).updates.some(({ update }) => (update.drainDeadlineMs ?? 0) > 0));
    for (const id of watchers) {
      assert.ok(
        proxy(id).updates.every(({ update }) => update.drainDeadlineMs === 0),
        id,
      );
    }
  });
});
