/**
 * Hop key rotation through the real control plane, with two scripted
 * proxies on real gRPC (hopKeyRotationSec: 1): the new epoch reaches the
 * receiver while the sender stays on the old one; the sender is moved to it
 * only after the receiver's ACK, shown by the order in which the two nodes
 * saw their updates (the receiver holds its ACKs back for longer than a
 * period, and the sender sees no move until it lets them go). Across
 * rotations no epoch names two keys and no body holds more than three.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  hopResourceName,
  MAX_HOP_KEYS,
  parseConfigText,
  type HopBody,
} from '../../../src/config/index.js';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/index.js';
import type { PlacementsView } from '../../../src/control-plane/placement/index.js';
import { AdminCredentials } from '../../../src/shared/admin/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { newAdminToken } from '../../helpers/admin-token.js';
import { getJson } from '../../helpers/http.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';
import { ScriptedProxy } from '../control-plane/scripted-proxy.js';

const HEARTBEAT_MS = 200;
const ROTATION_MS = 1_000;
const CAM1 = 'camera/cam1';

function configText(grpcPort: number): string {
  return [
    'logLevel: silent',
    'controlPlane:',
    // Scripted nodes speak plaintext gRPC: this test is about the push protocol, not mTLS.
    '  mtls: false',
    '  admin: 127.0.0.1:0',
    `  grpc: 127.0.0.1:${grpcPort}`,
    `  heartbeatIntervalMs: ${HEARTBEAT_MS}`,
    `  hopKeyRotationSec: ${ROTATION_MS / 1000}`,
    'proxy:',
    '  rtsp:',
    '    paths:',
    '      cam1: { source: "rtsp://127.0.0.1:9/cam1" }',
  ].join('\n');
}

describe('hop key rotation', () => {
  const proxies: ScriptedProxy[] = [];
  let plane: RunningControlPlane;
  let sender: ScriptedProxy;
  let receiver: ScriptedProxy;

  before(async () => {
    const grpcPort = await freePort();
    plane = await startControlPlane({
      config: parseConfigText(configText(grpcPort), 'control plane'),
      log: createLogger('control-plane', 'silent'),
      credentials: AdminCredentials.ofToken(newAdminToken()),
      placementGraceMs: 1_000,
    });
    for (const [index, id] of ['proxy-a', 'proxy-b'].entries()) {
      const proxy = new ScriptedProxy({
        id,
        grpc: `127.0.0.1:${grpcPort}`,
        hopAddress: `127.0.0.1:${7300 + 2 * index}`,
        heartbeatIntervalMs: HEARTBEAT_MS,
      });
      proxies.push(proxy);
      await proxy.connect();
    }
    const owner = await waitFor(
      async () => {
        const url = `http://${plane.admin.host}:${plane.admin.port}/placements`;
        const view = (await getJson<PlacementsView>(url)).body;
        return view.placements.find(({ key }) => key === CAM1)?.node;
      },
      10_000,
      () => 'camera/cam1 placed',
    );
    const first = proxies.find((proxy) => proxy.options.id === owner);
    const second = proxies.find((proxy) => proxy.options.id !== owner);
    assert.ok(first && second);
    [sender, receiver] = [first, second];
  });

  after(async () => {
    for (const proxy of proxies) proxy.close();
    await plane.close();
  });

  it('epoch n+1 reaches the receiver first; the sender moves to it only after the receiver ACKs', async () => {
    const hopId = hopResourceName(CAM1, sender.options.id, receiver.options.id);
    receiver.request([{ session: CAM1, address: '127.0.0.1:9400' }]);
    await waitFor(
      () => (sender.hops()[0]?.hopId === hopId && receiver.hops().length === 1 ? true : undefined),
      5_000,
      () => 'the hop at both ends',
    );
    receiver.holdAcks();
    const sentBodies = (proxy: ScriptedProxy): { at: number; body: HopBody }[] =>
      proxy.hopUpdates().flatMap(({ at, changed }) => changed.map((body) => ({ at, body })));
    // The rotation: epoch 2 comes to both, to be sent with by nobody yet.
    const withTwo = await waitFor(
      () => sentBodies(receiver).find(({ body }) => body.keys.some((key) => key.epoch === 2)),
      5 * ROTATION_MS,
      () => 'epoch 2 sent to the receiver',
    );
    assert.equal(withTwo.body.sendEpoch, 1);
    // More than a period with the receiver's ACK held back: the sender stays on 1, no epoch 3.
    await new Promise((resolve) => setTimeout(resolve, 1.5 * ROTATION_MS));
    for (const { body } of sentBodies(sender)) {
      assert.equal(body.sendEpoch, 1, 'the sender moved before the receiver held the key');
      assert.ok(body.keys.every((key) => key.epoch <= 2));
    }
    const acksBefore = receiver.acks.length;
    receiver.releaseAcks();
    const released = receiver.acks.slice(acksBefore);
    assert.ok(released.length > 0);
    const moved = await waitFor(
      () => sentBodies(sender).find(({ body }) => body.sendEpoch === 2),
      5_000,
      () => 'the sender moved to epoch 2',
    );
    const receiverAck = Math.min(...released.map(({ at }) => at));
    assert.ok(
      moved.at > receiverAck,
      "the sender's move to epoch 2 came after the receiver's ACK of it",
    );
    assert.ok(withTwo.at < moved.at);
  });

  it('over several rotations: one key per epoch, at most three, the sender ever later', async () => {
    const start = sender.hops()[0]?.sendEpoch ?? 0;
    await waitFor(
      () => ((sender.hops()[0]?.sendEpoch ?? 0) >= start + 3 ? true : undefined),
      10 * ROTATION_MS,
      () => 'three more rotations',
    );
    for (const proxy of [sender, receiver]) {
      const keys = new Map<number, string>();
      let sendEpoch = 0;
      for (const { changed } of proxy.hopUpdates()) {
        for (const body of changed) {
          assert.ok(body.keys.length <= MAX_HOP_KEYS);
          assert.ok(body.sendEpoch >= sendEpoch, 'sendEpoch never goes back');
          sendEpoch = body.sendEpoch;
          for (const key of body.keys) {
            assert.equal(keys.get(key.epoch) ?? key.key, key.key, `epoch ${key.epoch}: one key`);
            keys.set(key.epoch, key.key);
          }
        }
      }
    }
  });
});
