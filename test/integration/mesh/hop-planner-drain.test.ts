/**
 * A drain's handover over real gRPC: the real ConfigPushServer and
 * HopPlanner with three scripted proxies, the placements injected (the
 * PlacementService has no drain yet, so the test moves the camera with the
 * reason `node_drained` itself). The receiver is sent the new owner's hop
 * and keeps the old one: while the new owner has not ACKed it, for as long
 * as that takes, and for the handover time after both ends hold it; then
 * the old hop is removed at both of its ends.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, before, describe, it } from 'node:test';
import {
  hopResourceName,
  parseConfigText,
  type PlacementBody,
  type PlacementReason,
} from '../../../src/config/index.js';
import { ConfigPushServer, ConfigStore } from '../../../src/control-plane/config-push/index.js';
import { HopPlanner, type SessionPlacements } from '../../../src/control-plane/hops/index.js';
import { Registry } from '../../../src/control-plane/registry/index.js';
import { systemClock } from '../../../src/shared/clock.js';
import { createLogger } from '../../../src/shared/log.js';
import { createMetricsRegistry } from '../../../src/shared/metrics.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';
import { ScriptedProxy } from '../control-plane/scripted-proxy.js';

const HEARTBEAT_MS = 200;
const HANDOVER_MS = 1_000;
/** How long the new owner holds its ACKs back: longer than the handover itself. */
const ACK_DELAY_MS = 1_500;
const CAM1 = 'camera/cam1';

class InjectedPlacements extends EventEmitter<{ change: [] }> implements SessionPlacements {
  readonly restoring = false;
  readonly #owners = new Map<string, PlacementBody>();
  placementOf(session: string) {
    return this.#owners.get(session);
  }
  place(session: string, node: string, reason: PlacementReason): void {
    this.#owners.set(session, { node, since: new Date().toISOString(), reason });
    this.emit('change');
  }
}

describe("a drain's hop handover", () => {
  const placements = new InjectedPlacements();
  const proxies = new Map<string, ScriptedProxy>();
  let server: ConfigPushServer;
  let planner: HopPlanner;

  before(async () => {
    const grpcPort = await freePort();
    const config = parseConfigText(
      [
        'controlPlane:',
        `  heartbeatIntervalMs: ${HEARTBEAT_MS}`,
        'proxy:',
        '  rtsp:',
        '    paths:',
        '      cam1: { source: "rtsp://127.0.0.1:9/cam1" }',
      ].join('\n'),
      'test',
    );
    const store = new ConfigStore(config, 'test');
    const registry = new Registry({
      clock: systemClock,
      heartbeatIntervalMs: HEARTBEAT_MS,
      staleAfterMissedHeartbeats: 3,
      maxNodes: 10,
      forgetAfterMs: 60_000,
    });
    const metrics = createMetricsRegistry('control-plane');
    const log = createLogger('control-plane', 'silent');
    planner = new HopPlanner({
      store,
      registry,
      placements,
      clock: systemClock,
      log,
      metrics,
      handoverMs: HANDOVER_MS,
    });
    server = new ConfigPushServer({
      listen: { host: '127.0.0.1', port: grpcPort },
      store,
      registry,
      hops: planner,
      heartbeatIntervalMs: HEARTBEAT_MS,
      metrics,
      log,
    });
    await server.listen();
    planner.start();
    for (const [index, id] of ['proxy-a', 'proxy-b', 'proxy-c'].entries()) {
      const proxy = new ScriptedProxy({
        id,
        grpc: `127.0.0.1:${grpcPort}`,
        hopAddress: `127.0.0.1:${7500 + 2 * index}`,
        heartbeatIntervalMs: HEARTBEAT_MS,
      });
      proxies.set(id, proxy);
      await proxy.connect();
    }
  });

  after(async () => {
    for (const proxy of proxies.values()) proxy.close();
    planner.close();
    await server.close();
  });

  it('keeps the old hop until the new one is held by both ends plus the handover time', async () => {
    const [a, b, c] = ['proxy-a', 'proxy-b', 'proxy-c'].map((id) => proxies.get(id));
    assert.ok(a && b && c);
    const oldHop = hopResourceName(CAM1, 'proxy-a', 'proxy-b');
    const newHop = hopResourceName(CAM1, 'proxy-c', 'proxy-b');
    const held = (proxy: ScriptedProxy) => proxy.hops().map(({ hopId }) => hopId);
    placements.place(CAM1, 'proxy-a', 'placed');
    b.request([{ session: CAM1, address: '127.0.0.1:9500' }]);
    await waitFor(
      () => (held(a).includes(oldHop) && held(b).includes(oldHop) ? true : undefined),
      5_000,
      () => 'the first hop at both ends',
    );

    c.holdAcks();
    placements.place(CAM1, 'proxy-c', 'node_drained');
    await waitFor(
      () => (held(b).includes(newHop) ? true : undefined),
      5_000,
      () => 'the new hop at the receiver',
    );
    assert.deepEqual(held(b), [oldHop, newHop].sort(), 'the receiver holds both');
    // The new owner has not ACKed its hop: longer than the handover, the old hop stays.
    await new Promise((resolve) => setTimeout(resolve, ACK_DELAY_MS));
    assert.deepEqual(held(b), [oldHop, newHop].sort());
    assert.deepEqual(held(a), [oldHop]);
    const acksBefore = c.acks.length;
    c.releaseAcks();
    const bothHeld = Math.max(...c.acks.slice(acksBefore).map(({ at }) => at));
    await waitFor(
      () => (JSON.stringify(held(b)) === JSON.stringify([newHop]) ? true : undefined),
      5_000 + HANDOVER_MS,
      () => 'the old hop removed at the receiver',
    );
    const removal = b.hopUpdates().find(({ removed }) => removed.includes(oldHop));
    assert.ok(removal);
    // Date.now() (the planner's clock) and performance.now() may differ by a few ms.
    assert.ok(
      removal.at - bothHeld >= HANDOVER_MS - 20,
      `removed ${Math.round(removal.at - bothHeld)} ms after both ends held the new hop`,
    );
    await waitFor(
      () => (held(a).length === 0 ? true : undefined),
      5_000,
      () => 'the old hop removed at the old owner',
    );
    assert.deepEqual(held(c), [newHop]);
  });
});
