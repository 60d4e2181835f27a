/**
 * HopPlanner and identities (issue 17): each MEDIA_KEY body names its two
 * ends' SPIFFE IDs, the ones the registry recorded from their client
 * certificates, and follows them when a node registers again with another;
 * with requireIdentity (controlPlane.mtls) a hop is made only between two
 * nodes that registered with a certificate, so keys go to authenticated
 * nodes only. A real Registry and planner on a manual clock; passes are
 * driven by the test.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import {
  parseConfigText,
  parseHopBody,
  type HopBody,
  type PlacementBody,
} from '../../../../src/config/index.js';
import { ConfigStore } from '../../../../src/control-plane/config-push/index.js';
import { HopPlanner, type SessionPlacements } from '../../../../src/control-plane/hops/index.js';
import { Registry } from '../../../../src/control-plane/registry/index.js';

const CAM1 = 'camera/cam1';
const A_ID = 'spiffe://mesh.test/ns/default/sa/proxy-a';
const B_ID = 'spiffe://mesh.test/ns/default/sa/proxy-b';

class InjectedPlacements extends EventEmitter<{ change: [] }> implements SessionPlacements {
  restoring = false;
  readonly owners = new Map<string, PlacementBody>();
  placementOf(session: string) {
    return this.owners.get(session);
  }
}

function harness(requireIdentity: boolean) {
  const clock = { now: () => Date.parse('2026-12-04T10:00:00.000Z') };
  const config = 'proxy:\n  rtsp:\n    paths:\n      cam1: { source: "rtsp://10.0.0.1/cam1" }';
  const store = new ConfigStore(parseConfigText(config, 'test'), 'test');
  const registry = new Registry({
    clock,
    heartbeatIntervalMs: 200,
    staleAfterMissedHeartbeats: 3,
    maxNodes: 10,
    forgetAfterMs: 600_000,
  });
  const placements = new InjectedPlacements();
  placements.owners.set(CAM1, {
    node: 'proxy-a',
    since: new Date(0).toISOString(),
    reason: 'placed',
  });
  const planner = new HopPlanner({
    store,
    registry,
    placements,
    clock,
    log: pino({ level: 'silent' }),
    metrics: new MetricsRegistry(),
    requireIdentity,
  });
  const join = (id: string, spiffeId?: string): void => {
    registry.register(
      {
        identity: { id, node: 'test', role: 'ROLE_PROXY' },
        capabilities: [],
        listenAddresses: { hop: '127.0.0.1:7000' },
        currentVersion: '',
      },
      spiffeId,
    );
    registry.streamOpened(id);
  };
  const bodies = (id: string): HopBody[] =>
    planner.resources(id).map((resource) => {
      const body = parseHopBody(resource.body);
      assert.ok(typeof body !== 'string', body as string);
      return body;
    });
  const request = (): void => {
    planner.requested('proxy-b', 'ROLE_PROXY', {
      sentAtMs: clock.now(),
      requests: [{ session: CAM1, address: '127.0.0.1:9000' }],
    });
  };
  return { registry, planner, join, bodies, request };
}

describe('HopPlanner identities', () => {
  it("names both ends' SPIFFE IDs in the hop body, and follows a new one", () => {
    const h = harness(true);
    h.join('proxy-a', A_ID);
    h.join('proxy-b', B_ID);
    h.request();
    const [body] = h.bodies('proxy-b');
    assert.ok(body);
    assert.equal(body.senderIdentity, A_ID);
    assert.equal(body.receiverIdentity, B_ID);
    assert.deepEqual(h.bodies('proxy-a'), [body]);
    const other = 'spiffe://mesh.test/ns/default/sa/other';
    h.join('proxy-b', other);
    h.planner.reconcile();
    const [after] = h.bodies('proxy-b');
    assert.ok(after);
    assert.equal(after.receiverIdentity, other);
    assert.deepEqual(after.keys, body.keys, 'the same keys: only the name changed');
  });

  it('with requireIdentity, makes no hop to or from a node without a certificate', () => {
    const h = harness(true);
    h.join('proxy-a', A_ID);
    h.join('proxy-b');
    h.request();
    assert.deepEqual(h.bodies('proxy-a'), []);
    assert.deepEqual(h.bodies('proxy-b'), []);
    h.join('proxy-b', B_ID);
    h.planner.reconcile();
    assert.equal(h.bodies('proxy-b').length, 1, 'once it registers with one, it gets the hop');
    h.join('proxy-a');
    h.planner.reconcile();
    assert.deepEqual(h.bodies('proxy-b'), [], 'the sender lost its certificate: the hop goes');
  });

  it('without requireIdentity (plaintext), makes the hop and names no identity', () => {
    const h = harness(false);
    h.join('proxy-a');
    h.join('proxy-b');
    h.request();
    const [body] = h.bodies('proxy-b');
    assert.ok(body);
    assert.equal(body.senderIdentity, undefined);
    assert.equal(body.receiverIdentity, undefined);
  });
});
