import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  Registry,
  RegistryFullError,
  RoleChangeError,
} from '../../../src/control-plane/registry/registry.js';
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

  it('keeps a node id’s role until it is forgotten: another role is refused', () => {
    const clock = { now: 0 };
    const registry = registryAt(clock);
    registry.register(request('n1'));
    const asSignaling = {
      ...request('n1'),
      identity: { id: 'n1', node: 'n1', role: 'ROLE_SIGNALING' as const },
    };
    assert.throws(() => registry.register(asSignaling), RoleChangeError);
    assert.equal(registry.get('n1')?.role, 'ROLE_PROXY');
    // The same role registers again (a reconnect).
    registry.register(request('n1'));
    // Silent past forgetAfterMs with no stream: forgotten, and free to take another role.
    clock.now = 60_001;
    registry.forgetSilentNodes();
    registry.register(asSignaling);
    assert.equal(registry.get('n1')?.role, 'ROLE_SIGNALING');
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

  it('drains a node until a deadline, past it too, until a new process registers', () => {
    const clock = { now: 1_000 };
    const registry = registryAt(clock);
    const events: string[] = [];
    registry.on('drain', (id) => events.push(id));
    registry.register(request('p1'));
    registry.streamOpened('p1');
    assert.equal(registry.drain('nobody', 5_000), false);
    assert.equal(registry.list()[0]?.draining, null);
    assert.equal(registry.drainDeadlineOf('p1'), 0);

    assert.equal(registry.drain('p1', 61_000), true);
    assert.deepEqual(registry.list()[0]?.draining, {
      since: new Date(1_000).toISOString(),
      deadline: new Date(61_000).toISOString(),
    });
    // A later drain moves the deadline and keeps since; the same deadline is no change.
    clock.now = 2_000;
    registry.drain('p1', 90_000);
    registry.drain('p1', 90_000);
    assert.equal(registry.list()[0]?.draining?.since, new Date(1_000).toISOString());
    assert.equal(registry.drainDeadlineOf('p1'), 90_000);
    assert.deepEqual(events, ['p1', 'p1']);

    // Past the deadline it is still draining; the process reconnecting (it
    // runs its config: a Register naming its version) stays drained, with its stream open or not.
    clock.now = 100_000;
    registry.register({ ...request('p1'), currentVersion: 'v1' });
    assert.equal(registry.drainDeadlineOf('p1'), 90_000);
    registry.streamClosed('p1');
    registry.register({ ...request('p1'), currentVersion: 'v1' });
    assert.equal(registry.drainDeadlineOf('p1'), 90_000);
    // A new process (no config yet) registers: no longer draining, and said so.
    registry.register(request('p1'));
    assert.equal(registry.drainDeadlineOf('p1'), 0);
    assert.equal(registry.list()[0]?.draining, null);
    assert.deepEqual(events, ['p1', 'p1', 'p1']);
  });
});
