/**
 * WebRtcBudget without sockets: per-source and total caps of each resource,
 * slots given back once, refusals counted by reason, live limit changes, and
 * transports tied to their lifetime with port exhaustion made over_budget.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import {
  OverBudgetError,
  WebRtcBudget,
  type WebRtcBudgetLimits,
} from '../../../signaling/server/index.js';

const limits: WebRtcBudgetLimits = {
  webSockets: { total: 5, perSource: 3 },
  rooms: { total: 4, perSource: 2 },
  transports: { total: 3, perSource: 2 },
  sessions: { total: 2, perSource: 2 },
};

async function refusals(registry: Registry, reason: string): Promise<number> {
  const metric = await registry.getSingleMetric('streammesh_signaling_over_budget_total')?.get();
  return metric?.values.find((value) => value.labels['reason'] === reason)?.value ?? 0;
}

/** A stand-in for a mediasoup transport: what the budget uses of one (closed, observer 'close'). */
class FakeTransport {
  readonly observer = new EventEmitter();
  closed = false;

  close(): void {
    this.closed = true;
    this.observer.emit('close');
  }
}

describe('WebRtcBudget', () => {
  it('caps each source, then the node, and counts each refusal by reason', async () => {
    const registry = new Registry();
    const budget = new WebRtcBudget(limits, registry);
    const held = [1, 2, 3].map(() => budget.take('webSockets', 'a'));
    assert.throws(
      () => budget.take('webSockets', 'a'),
      (error: unknown) =>
        error instanceof OverBudgetError &&
        (error as Error & { code: string }).code === 'over_budget' &&
        error.scope === 'per_source' &&
        error.reason === 'webSockets_per_source',
    );
    held.push(budget.take('webSockets', 'b'), budget.take('webSockets', 'b'));
    assert.throws(
      () => budget.take('webSockets', 'c'),
      (error: unknown) => error instanceof OverBudgetError && error.reason === 'webSockets_total',
    );
    assert.equal(await refusals(registry, 'webSockets_per_source'), 1);
    assert.equal(await refusals(registry, 'webSockets_total'), 1);
    assert.equal(budget.inUse('webSockets'), limits.webSockets.total);
    assert.equal(budget.inUse('rooms'), 0, 'resources are budgeted apart');
    // A slot given back twice frees one slot only.
    const first = held[0];
    first?.release();
    first?.release();
    assert.equal(budget.inUse('webSockets', 'a'), 2);
    assert.equal(budget.inUse('webSockets'), limits.webSockets.total - 1);
    budget.take('webSockets', 'c');
    for (const lease of held) lease.release();
    assert.equal(budget.inUse('webSockets', 'a'), 0);
    assert.equal(budget.inUse('webSockets'), 1);
  });

  it('applies new limits to the next take and keeps what is held', () => {
    const budget = new WebRtcBudget(limits);
    budget.take('sessions', 'a');
    budget.take('sessions', 'a');
    budget.limits = { ...limits, sessions: { total: 10, perSource: 1 } };
    assert.equal(budget.inUse('sessions', 'a'), 2);
    assert.throws(() => budget.take('sessions', 'a'), OverBudgetError);
    budget.take('sessions', 'b');
  });

  it('holds a transport slot for the transport life, before it is created', async () => {
    const budget = new WebRtcBudget(limits);
    let created = 0;
    const create = (): Promise<FakeTransport> => {
      created += 1;
      // The slot is already held while the transport is being made.
      assert.equal(budget.inUse('transports', 'a'), created);
      return Promise.resolve(new FakeTransport());
    };
    const one = await budget.transport('a', create);
    const two = await budget.transport('a', create);
    await assert.rejects(budget.transport('a', create), OverBudgetError);
    assert.equal(created, 2, 'nothing created over budget');
    one.close();
    assert.equal(budget.inUse('transports', 'a'), 1);
    two.close();
    assert.equal(budget.inUse('transports'), 0);
  });

  it('gives the slot back when creation fails; no port left is over_budget, counted', async () => {
    const registry = new Registry();
    const budget = new WebRtcBudget(limits, registry);
    const noPorts = (): Promise<FakeTransport> =>
      Promise.reject(
        new Error("no more available ports [protocol:udp, ip:'127.0.0.1', numAttempt:4]"),
      );
    await assert.rejects(
      budget.transport('a', noPorts),
      (error: unknown) =>
        error instanceof OverBudgetError &&
        error.reason === 'ports_exhausted' &&
        error.scope === 'total' &&
        /no WebRTC port is free/.test(error.message),
    );
    assert.equal(await refusals(registry, 'ports_exhausted'), 1);
    const other = new Error('worker closed');
    await assert.rejects(
      budget.transport('a', () => Promise.reject(other)),
      (error: unknown) => error === other,
    );
    assert.equal(budget.inUse('transports'), 0);
    // Already closed when it arrives: nothing stays held.
    const closed = new FakeTransport();
    closed.closed = true;
    await budget.transport('a', () => Promise.resolve(closed));
    assert.equal(budget.inUse('transports'), 0);
  });

  it('sums the in-use gauge over the budgets of one registry', async () => {
    const registry = new Registry();
    const one = new WebRtcBudget(limits, registry);
    const two = new WebRtcBudget(limits, registry);
    one.take('rooms', 'a');
    two.take('rooms', 'b');
    two.take('sessions', 'b');
    const metric = await registry.getSingleMetric('streammesh_signaling_budget_in_use')?.get();
    const value = (resource: string): number | undefined =>
      metric?.values.find((entry) => entry.labels['resource'] === resource)?.value;
    assert.equal(value('rooms'), 2);
    assert.equal(value('sessions'), 1);
    assert.equal(value('transports'), 0);
  });
});
