import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry, RegistryFullError } from '../../../src/control-plane/registry/registry.js';
import type { RegisterRequest } from '../../../src/protocol/mesh/index.js';

function request(id: string): RegisterRequest {
  return {
    identity: { id, node: 'n1', role: 'ROLE_PROXY' },
    capabilities: ['rtp'],
    listenAddresses: {},
    currentVersion: '',
  };
}

function registryAt(clock: { now: number }, maxNodes = 10): Registry {
  return new Registry({
    clock: { now: () => clock.now },
    heartbeatIntervalMs: 1_000,
    staleAfterMissedHeartbeats: 3,
    maxNodes,
    forgetAfterMs: 60_000,
  });
}

const stateOf = (registry: Registry, id: string): string | undefined =>
  registry.list().find((node) => node.id === id)?.state;

describe('Registry', () => {
  it('is connected while heartbeats arrive and stale after three missed ones', () => {
    const clock = { now: 0 };
    const registry = registryAt(clock);
    registry.register(request('p1'));
    registry.streamOpened('p1');
    assert.equal(stateOf(registry, 'p1'), 'connected');
    clock.now = 2_500;
    registry.seen('p1');
    clock.now = 5_500;
    assert.equal(stateOf(registry, 'p1'), 'connected');
    clock.now = 5_501;
    assert.equal(stateOf(registry, 'p1'), 'stale');
    registry.seen('p1');
    assert.equal(stateOf(registry, 'p1'), 'connected');
    registry.streamClosed('p1');
    assert.equal(stateOf(registry, 'p1'), 'disconnected');
  });

  it('records ACKs and the last NACK with its reason', () => {
    const registry = registryAt({ now: 0 });
    registry.register(request('p1'));
    registry.acked('p1', '2-abc');
    registry.nacked('p1', '3-def', 'proxy.mediaAddress: cannot bind');
    const node = registry.list()[0];
    assert.equal(node?.ackedVersion, '2-abc');
    assert.deepEqual(node.lastNack, {
      version: '3-def',
      reason: 'proxy.mediaAddress: cannot bind',
      at: new Date(0).toISOString(),
    });
  });

  it('is bounded: a full registry refuses new nodes and forgets long-silent ones', () => {
    const clock = { now: 0 };
    const registry = registryAt(clock, 2);
    registry.register(request('p1'));
    registry.register(request('p2'));
    registry.streamOpened('p2');
    assert.throws(() => registry.register(request('p3')), RegistryFullError);
    // A known node may always register again.
    registry.register(request('p1'));
    clock.now = 60_001;
    registry.register(request('p3'));
    assert.deepEqual(
      registry
        .list()
        .map((node) => node.id)
        .sort(),
      ['p2', 'p3'],
    );
  });
});
