/**
 * HopPlanner: hops from proxies' requests, the placements (injected here, so
 * a test can move a session for any reason) and a real Registry on a
 * manual clock. A node's ACK is what the config push records of it: an
 * update sent and acknowledged in the node's NodeResources. Every pass is
 * driven by the test, so every outcome is exact.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import {
  hopResourceName,
  MAX_HOP_KEYS,
  parseConfigText,
  parseHopBody,
  placementResource,
  type HopBody,
  type PlacementBody,
  type PlacementReason,
} from '../../../../src/config/index.js';
import { ConfigStore } from '../../../../src/control-plane/config-push/index.js';
import {
  HopPlanner,
  mergeBodies,
  type SessionPlacements,
} from '../../../../src/control-plane/hops/index.js';
import { Registry } from '../../../../src/control-plane/registry/index.js';
import { MAX_HOP_REQUESTS } from '../../../../src/protocol/mesh/index.js';

const HEARTBEAT_MS = 200;
const ROTATION_SEC = 10;
const HANDOVER_MS = 2_000;

class InjectedPlacements extends EventEmitter<{ change: [] }> implements SessionPlacements {
  restoring = false;
  readonly #owners = new Map<string, PlacementBody>();
  placementOf(session: string) {
    return this.#owners.get(session);
  }
  /** Sets a placement; the test runs the pass (the planner is not started). */
  place(session: string, node: string, reason: PlacementReason = 'placed'): void {
    this.#owners.set(session, { node, since: new Date(0).toISOString(), reason });
  }
}

function configText(rotationSec: number): string {
  return [
    'controlPlane:',
    `  hopKeyRotationSec: ${rotationSec}`,
    'proxy:',
    '  rtsp:',
    '    paths:',
    '      live: { source: publisher }',
    '      cam1: { source: "rtsp://10.0.0.1/cam1" }',
    '      cam2: { source: "rtsp://10.0.0.1/cam2" }',
  ].join('\n');
}

function harness() {
  let now = Date.parse('2026-12-04T10:00:00.000Z');
  const clock = { now: () => now };
  const store = new ConfigStore(parseConfigText(configText(ROTATION_SEC), 'test'), 'test');
  const registry = new Registry({
    clock,
    heartbeatIntervalMs: HEARTBEAT_MS,
    staleAfterMissedHeartbeats: 3,
    maxNodes: 100,
    forgetAfterMs: 600_000,
  });
  const placements = new InjectedPlacements();
  const metrics = new MetricsRegistry();
  const planner = new HopPlanner({
    store,
    registry,
    placements,
    clock,
    log: pino({ level: 'silent' }),
    metrics,
    handoverMs: HANDOVER_MS,
  });
  let changes = 0;
  planner.on('change', () => {
    changes += 1;
  });
  let nonce = 0;
  /** A proxy, with a hop address unless `hop` is null. */
  const join = (id: string, hop: string | null = `127.0.0.1:${7000 + id.length}`) => {
    registry.register({
      identity: { id, node: 'test', role: 'ROLE_PROXY' },
      capabilities: [],
      listenAddresses: hop === null ? {} : { hop },
      currentVersion: '',
    });
    registry.streamOpened(id);
  };
  /** The node applies the session's PLACEMENT as it is now, and ACKs it. */
  const holdPlacement = (id: string, session: string) => {
    const resources = registry.get(id)?.resources;
    const body = placements.placementOf(session);
    assert.ok(resources && body);
    nonce += 1;
    resources.sent(String(nonce), 'v', {
      changed: [placementResource(session, body)],
      removed: [],
    });
    resources.acked(String(nonce));
    planner.acked(id);
  };
  /** What the push does for a node that applies its update: sent, then ACKed. */
  const ack = (id: string) => {
    const resources = registry.get(id)?.resources;
    assert.ok(resources);
    nonce += 1;
    resources.sent(String(nonce), 'v', resources.delta(planner.resources(id)));
    resources.acked(String(nonce));
    planner.acked(id);
  };
  const request = (id: string, requests: { session: string; address: string }[]) => {
    planner.requested(id, 'ROLE_PROXY', { sentAtMs: now, requests });
  };
  const bodies = (id: string): HopBody[] =>
    planner.resources(id).map((resource) => {
      const body = parseHopBody(resource.body);
      assert.ok(typeof body !== 'string', body as string);
      return body;
    });
  const bad = async (reason: string): Promise<number> => {
    const metric = await metrics
      .getSingleMetric('streammesh_control_plane_bad_hop_requests_total')
      ?.get();
    return metric?.values.find((value) => value.labels['reason'] === reason)?.value ?? 0;
  };
  return {
    store,
    registry,
    placements,
    planner,
    join,
    ack,
    holdPlacement,
    request,
    bodies,
    bad,
    changes: () => changes,
    /** A placement change, and the pass it triggers. */
    move: (session: string, node: string, reason: PlacementReason) => {
      placements.place(session, node, reason);
      planner.reconcile();
    },
    advance: (ms: number) => {
      now += ms;
      for (const record of registry.records()) if (record.streamOpen) registry.seen(record.id);
    },
    /** Time passes without `id` being heard from. */
    silence: (id: string, ms: number) => {
      now += ms;
      for (const record of registry.records()) {
        if (record.id !== id && record.streamOpen) registry.seen(record.id);
      }
    },
    now: () => now,
  };
}

const CAM1 = 'camera/cam1';
const HOP_AB = hopResourceName(CAM1, 'proxy-a', 'proxy-b');

function threeProxies() {
  const h = harness();
  for (const id of ['proxy-a', 'proxy-b', 'proxy-c']) h.join(id);
  h.placements.place(CAM1, 'proxy-a');
  return h;
}

describe('HopPlanner', () => {
  it('makes one hop per request whose camera another healthy proxy owns, to its two nodes only', () => {
    const h = threeProxies();
    h.request('proxy-b', [{ session: CAM1, address: '127.0.0.1:9000' }]);
    const [body] = h.bodies('proxy-b');
    assert.ok(body);
    assert.deepEqual(h.bodies('proxy-a'), [body], 'the sender holds the same body');
    assert.deepEqual(h.bodies('proxy-c'), [], 'a third proxy holds nothing');
    assert.equal(body.hopId, HOP_AB);
    assert.equal(body.sender, 'proxy-a');
    assert.equal(body.receiver, 'proxy-b');
    assert.equal(body.senderAddress, h.registry.get('proxy-a')?.listenAddresses['hop']);
    assert.equal(body.receiverAddress, '127.0.0.1:9000');
    assert.deepEqual(
      body.keys.map((key) => key.epoch),
      [1],
    );
    assert.equal(body.sendEpoch, 1);
    assert.equal(body.keys[0]?.notAfter, h.now() + 3 * ROTATION_SEC * 1000);
    assert.equal(h.changes(), 1);
    // The owner asking for its own camera gets no hop.
    h.request('proxy-a', [{ session: CAM1, address: '127.0.0.1:9001' }]);
    assert.deepEqual(h.bodies('proxy-a'), [body]);
    assert.equal(h.changes(), 1, 'nothing changed');
  });

  it('makes no hop from an owner without a hop address, a stale owner or an unplaced session', () => {
    const h = harness();
    h.join('proxy-a', null);
    h.join('proxy-b');
    h.join('proxy-c');
    h.placements.place(CAM1, 'proxy-a');
    h.request('proxy-b', [
      { session: CAM1, address: '127.0.0.1:9000' },
      { session: 'camera/cam2', address: '127.0.0.1:9002' },
    ]);
    assert.deepEqual(h.bodies('proxy-b'), [], 'no hop address, cam2 not placed');
    h.move('camera/cam2', 'proxy-c', 'placed');
    assert.deepEqual(
      h.bodies('proxy-b').map((body) => body.sender),
      ['proxy-c'],
    );
    h.silence('proxy-c', HEARTBEAT_MS * 4);
    h.planner.reconcile();
    assert.deepEqual(h.bodies('proxy-b'), [], 'its owner went stale');
  });

  it('drops a bad request set as a whole and counts it; the previous set stays', async () => {
    const h = threeProxies();
    const good = [{ session: CAM1, address: '127.0.0.1:9000' }];
    h.request('proxy-b', good);
    const before = h.bodies('proxy-b');
    assert.equal(before.length, 1);
    const cases: [string, { session: string; address: string }[]][] = [
      ['unknown_session', [{ session: 'camera/nope', address: '127.0.0.1:9000' }]],
      ['unknown_session', [{ session: 'camera/live', address: '127.0.0.1:9000' }]],
      ['unknown_session', [{ session: 'route/cam1', address: '127.0.0.1:9000' }]],
      ['bad_address', [{ session: CAM1, address: 'nowhere' }]],
      ['bad_address', [{ session: CAM1, address: '127.0.0.1:0' }]],
      ['bad_address', [{ session: CAM1, address: '127.0.0.1:70000' }]],
      ['duplicate_session', [...good, ...good]],
      [
        'too_many',
        Array.from({ length: MAX_HOP_REQUESTS + 1 }, () => ({
          session: CAM1,
          address: '127.0.0.1:9000',
        })),
      ],
    ];
    const expected = new Map<string, number>();
    for (const [reason, requests] of cases) {
      h.request('proxy-b', [...requests]);
      expected.set(reason, (expected.get(reason) ?? 0) + 1);
      assert.deepEqual(h.bodies('proxy-b'), before, `${reason}: the previous set stays`);
    }
    h.planner.requested('proxy-b', 'ROLE_SIGNALING', { sentAtMs: 0, requests: good });
    expected.set('not_proxy', 1);
    for (const [reason, count] of expected) assert.equal(await h.bad(reason), count, reason);
    // An empty set is a good one: the node wants nothing now.
    h.request('proxy-b', []);
    assert.deepEqual(h.bodies('proxy-b'), []);
    assert.deepEqual(h.bodies('proxy-a'), []);
  });

  it('a move for a failure: the old hop goes at once, the new one comes in the same pass', () => {
    const h = threeProxies();
    h.request('proxy-b', [{ session: CAM1, address: '127.0.0.1:9000' }]);
    h.ack('proxy-a');
    h.ack('proxy-b');
    const changes = h.changes();
    h.move(CAM1, 'proxy-c', 'node_failed');
    assert.equal(h.changes(), changes + 1, 'one change');
    assert.deepEqual(
      h.bodies('proxy-b').map((body) => body.hopId),
      [hopResourceName(CAM1, 'proxy-c', 'proxy-b')],
    );
    assert.deepEqual(h.bodies('proxy-a'), []);
  });

  it('a drain: both hops until the new one is held by both its nodes plus the handover time', () => {
    const h = threeProxies();
    h.request('proxy-b', [{ session: CAM1, address: '127.0.0.1:9000' }]);
    h.ack('proxy-a');
    h.ack('proxy-b');
    h.move(CAM1, 'proxy-c', 'node_drained');
    const newHop = hopResourceName(CAM1, 'proxy-c', 'proxy-b');
    const held = () =>
      h
        .bodies('proxy-b')
        .map((body) => body.hopId)
        .sort();
    assert.deepEqual(held(), [HOP_AB, newHop].sort());
    assert.equal(h.planner.view().hops.find((hop) => hop.hopId === HOP_AB)?.state, 'retiring');
    // Time alone does not end it: the new hop must be held by both.
    h.advance(HANDOVER_MS * 3);
    h.planner.reconcile();
    h.ack('proxy-b');
    h.advance(HANDOVER_MS * 3);
    h.planner.reconcile();
    assert.deepEqual(held(), [HOP_AB, newHop].sort(), 'the new sender has not ACKed');
    h.ack('proxy-c');
    h.advance(HANDOVER_MS - 1);
    h.planner.reconcile();
    assert.deepEqual(held(), [HOP_AB, newHop].sort(), 'within the handover time');
    h.advance(1);
    h.planner.reconcile();
    assert.deepEqual(held(), [newHop]);
    assert.deepEqual(h.bodies('proxy-a'), []);
  });

  it('a drain to the receiver itself: the old hop stays until it holds the placement, plus the handover time', () => {
    const h = threeProxies();
    h.request('proxy-b', [{ session: CAM1, address: '127.0.0.1:9000' }]);
    h.ack('proxy-a');
    h.ack('proxy-b');
    h.move(CAM1, 'proxy-b', 'node_drained');
    const held = () => h.bodies('proxy-b').map((body) => body.hopId);
    h.advance(HANDOVER_MS * 3);
    h.planner.reconcile();
    assert.deepEqual(
      held(),
      [HOP_AB],
      'no new hop; the old one stays while proxy-b does not own it yet',
    );
    h.holdPlacement('proxy-b', CAM1);
    h.advance(HANDOVER_MS - 1);
    h.planner.reconcile();
    assert.deepEqual(held(), [HOP_AB], 'within the handover time');
    h.advance(1);
    h.planner.reconcile();
    assert.deepEqual(held(), []);
    assert.deepEqual(h.bodies('proxy-a'), []);
  });

  it('rotation: epoch n+1 first, the sender moves to it once the receiver holds it, never more than 3 keys', () => {
    const h = threeProxies();
    h.request('proxy-b', [{ session: CAM1, address: '127.0.0.1:9000' }]);
    const epochs = () => {
      const [body] = h.bodies('proxy-b');
      assert.ok(body);
      return { keys: body.keys.map((key) => key.epoch), sendEpoch: body.sendEpoch };
    };
    const first = h.bodies('proxy-b')[0]?.keys[0];
    h.advance(ROTATION_SEC * 1000 - 1);
    h.planner.reconcile();
    assert.deepEqual(epochs(), { keys: [1], sendEpoch: 1 }, 'before the period');
    h.advance(1);
    h.planner.reconcile();
    assert.deepEqual(epochs(), { keys: [1, 2], sendEpoch: 1 });
    assert.deepEqual(h.bodies('proxy-b')[0]?.keys[0], first, 'epoch 1 keeps its key');
    h.ack('proxy-a');
    assert.deepEqual(epochs(), { keys: [1, 2], sendEpoch: 1 }, "the sender's ACK moves nothing");
    // No further epoch while the receiver does not hold this one.
    h.advance(ROTATION_SEC * 1000);
    h.planner.reconcile();
    assert.deepEqual(epochs(), { keys: [1, 2], sendEpoch: 1 });
    // Its ACK moves the sender to 2; epoch 2 is a period old by now, so 3 comes in the same pass.
    h.ack('proxy-b');
    assert.deepEqual(epochs(), { keys: [1, 2, 3], sendEpoch: 2 });
    const seen = new Map<number, string>();
    let previous = epochs().sendEpoch;
    for (let round = 0; round < 5; round += 1) {
      h.advance(ROTATION_SEC * 1000);
      h.planner.reconcile();
      h.ack('proxy-b');
      for (const key of h.bodies('proxy-b')[0]?.keys ?? []) {
        assert.equal(seen.get(key.epoch) ?? key.key, key.key, `epoch ${key.epoch} has one key`);
        seen.set(key.epoch, key.key);
      }
      const { keys, sendEpoch } = epochs();
      assert.equal(sendEpoch, previous + 1, 'one epoch further per period');
      previous = sendEpoch;
      assert.ok(keys.length <= MAX_HOP_KEYS);
      assert.deepEqual(
        keys,
        [sendEpoch - 1, sendEpoch, sendEpoch + 1],
        'older epochs went, the next is out ahead',
      );
    }
  });

  it('a hop made again after its removal goes on from the epoch after its last', () => {
    const h = threeProxies();
    h.request('proxy-b', [{ session: CAM1, address: '127.0.0.1:9000' }]);
    h.advance(ROTATION_SEC * 1000);
    h.planner.reconcile();
    h.request('proxy-b', []);
    h.request('proxy-b', [{ session: CAM1, address: '127.0.0.1:9000' }]);
    const [body] = h.bodies('proxy-b');
    assert.deepEqual(
      body?.keys.map((key) => key.epoch),
      [3],
    );
  });

  it('a sender that says Hello without the hop is new: the hop moves to a new key it uses at once', () => {
    const h = threeProxies();
    h.request('proxy-b', [{ session: CAM1, address: '127.0.0.1:9000' }]);
    const [before] = h.bodies('proxy-a');
    assert.ok(before);
    // A sender reconnecting with the hop held keeps its key; the receiver's Hello changes nothing.
    h.planner.greeted('proxy-a', new Set([HOP_AB]));
    h.planner.greeted('proxy-b', new Set());
    assert.deepEqual(h.bodies('proxy-a'), [before]);
    // The owner restarted: its Hello holds no hop.
    h.planner.greeted('proxy-a', new Set());
    const [after] = h.bodies('proxy-a');
    assert.ok(after);
    assert.deepEqual(
      after.keys.map((key) => key.epoch),
      [1, 2],
    );
    assert.equal(after.sendEpoch, 2, 'the new sender protects with a key never used');
    assert.notEqual(after.keys[1]?.key, before.keys[0]?.key);
    assert.deepEqual(h.bodies('proxy-b'), [after], 'the receiver gets it in the same push');
  });

  it("a node's requests stay while its stream is closed, until it is stale", () => {
    const h = threeProxies();
    h.request('proxy-b', [{ session: CAM1, address: '127.0.0.1:9000' }]);
    h.registry.streamClosed('proxy-b');
    h.silence('proxy-b', HEARTBEAT_MS * 2);
    h.planner.reconcile();
    assert.equal(h.bodies('proxy-a').length, 1);
    h.silence('proxy-b', HEARTBEAT_MS * 2);
    h.planner.reconcile();
    assert.deepEqual(h.bodies('proxy-a'), []);
  });

  it('restores hops reported in Hellos exactly, and removes those not asked for again', () => {
    const h = threeProxies();
    h.request('proxy-b', [{ session: CAM1, address: '127.0.0.1:9000' }]);
    h.request('proxy-c', [{ session: CAM1, address: '127.0.0.1:9100' }]);
    const held = [...h.planner.resources('proxy-a')];
    const bodies = h.bodies('proxy-a');
    // A new control plane: same config, nodes back with what they hold.
    const restarted = threeProxies();
    restarted.placements.restoring = true;
    restarted.planner.reported('proxy-a', bodies);
    restarted.planner.reported('proxy-b', h.bodies('proxy-b'));
    restarted.request('proxy-b', [{ session: CAM1, address: '127.0.0.1:9000' }]);
    assert.deepEqual(restarted.planner.resources('proxy-a'), held, 'same bodies, same versions');
    const changes = restarted.changes();
    restarted.placements.restoring = false;
    restarted.planner.reconcile();
    assert.deepEqual(
      restarted.planner.resources('proxy-a').map((resource) => resource.version),
      [held.find((resource) => resource.name === HOP_AB)?.version],
      "proxy-c's hop was not asked for again: removed; proxy-b's unchanged",
    );
    assert.equal(restarted.changes(), changes + 1);
    assert.equal(restarted.planner.view().hops[0]?.state, 'active');
  });

  it('a sender that restarted with the control plane gets a new key after the grace, not the restored one', () => {
    const h = threeProxies();
    h.request('proxy-b', [{ session: CAM1, address: '127.0.0.1:9000' }]);
    const [before] = h.bodies('proxy-b');
    assert.ok(before);
    const restarted = threeProxies();
    restarted.placements.restoring = true;
    // The receiver comes back with the hop; the owner is a new process that holds none.
    restarted.planner.reported('proxy-b', h.bodies('proxy-b'));
    restarted.planner.greeted('proxy-b', new Set([HOP_AB]));
    restarted.planner.greeted('proxy-a', new Set());
    restarted.request('proxy-b', [{ session: CAM1, address: '127.0.0.1:9000' }]);
    assert.deepEqual(restarted.bodies('proxy-a'), [before], 'nothing judged during the grace');
    restarted.placements.restoring = false;
    restarted.planner.reconcile();
    const [after] = restarted.bodies('proxy-a');
    assert.equal(after?.sendEpoch, 2, 'the new owner process sends under a key it never used');
    assert.deepEqual(
      after.keys.map((key) => key.epoch),
      [1, 2],
    );
  });

  it('refuses a reported hop the reporting node is no end of', () => {
    const h = threeProxies();
    h.request('proxy-b', [{ session: CAM1, address: '127.0.0.1:9000' }]);
    const restarted = threeProxies();
    restarted.placements.restoring = true;
    restarted.planner.reported('proxy-c', h.bodies('proxy-b'));
    assert.deepEqual(restarted.planner.view().hops, []);
  });

  it("merges two ends' reports by epoch and takes the later sendEpoch", () => {
    const h = threeProxies();
    h.request('proxy-b', [{ session: CAM1, address: '127.0.0.1:9000' }]);
    const [before] = h.bodies('proxy-a');
    h.advance(ROTATION_SEC * 1000);
    h.planner.reconcile();
    h.ack('proxy-b');
    const [moved] = h.bodies('proxy-a');
    assert.ok(before && moved);
    assert.deepEqual(mergeBodies(before, moved), moved);
    assert.deepEqual(mergeBodies(moved, before), moved);
    const forged = {
      ...moved,
      keys: moved.keys.map((key) => ({ ...key, key: before.keys[0]?.key ?? '' })),
    };
    assert.equal(typeof mergeBodies(moved, forged), 'string', 'one epoch, two keys: refused');
  });

  it('GET /hops shows no key material', () => {
    const h = threeProxies();
    h.request('proxy-b', [{ session: CAM1, address: '127.0.0.1:9000' }]);
    const [body] = h.bodies('proxy-b');
    const shown = JSON.stringify(h.planner.view());
    for (const key of body?.keys ?? []) assert.ok(!shown.includes(key.key));
    assert.ok(!/"key"\s*:/.test(shown));
  });
});
