/**
 * A node's control client against a scripted MeshControl server on
 * 127.0.0.1 (the real gRPC service definition; the server's part is played
 * by the test so it can cut a stream while an update is mid-transaction):
 * updates are applied one at a time; after a reconnect the Hello waits for
 * the update still being applied and names what it put in force; updates of
 * the dead stream are not applied; close() waits for the update in flight.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { ControlClient } from '../../../src/node-agent/control-client.js';
import type { ResourceRef } from '../../../src/config/index.js';
import type { Hello, ResourceUpdate } from '../../../src/protocol/mesh/index.js';
import { Backoff } from '../../../src/shared/backoff.js';
import { createLogger } from '../../../src/shared/log.js';
import { waitFor } from '../../helpers/process.js';
import { messagesOf, ScriptedControlPlane, type ScriptedStream } from './scripted-control-plane.js';

const route = (version: string): ResourceRef => ({ type: 'MEDIA_ROUTE', name: 'a', version });

const update = (nonce: string, version: string): ResourceUpdate => ({
  nonce,
  systemVersion: `sv${nonce}`,
  resources: [{ ...route(version), order: 0, bodyJson: '{}' }],
  removed: [],
});

/** A promise with its resolve function, to hold a transaction open. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/**
 * A node whose apply() holds each update until the test opens its gate, and
 * records which updates it applied and how many ran at once.
 */
class SlowNode {
  held: ResourceRef[] = [route('v1')];
  readonly applied: string[] = [];
  readonly gates = new Map<string, ReturnType<typeof gate>>();
  running = 0;
  mostAtOnce = 0;
  readonly client: ControlClient;

  constructor(address: string) {
    this.client = new ControlClient({
      address,
      identity: { id: 'node-1', node: 'host', role: 'ROLE_PROXY' },
      capabilities: [],
      listenAddresses: {},
      currentVersion: () => '',
      heldResources: () => this.held,
      apply: (incoming) => this.#apply(incoming),
      metrics: new Registry(),
      log: createLogger('test', 'silent'),
      backoff: new Backoff({ baseMs: 10, maxMs: 20 }),
    });
  }

  gateOf(nonce: string): ReturnType<typeof gate> {
    const existing = this.gates.get(nonce);
    if (existing !== undefined) return existing;
    const created = gate();
    this.gates.set(nonce, created);
    return created;
  }

  async #apply(incoming: ResourceUpdate): Promise<ResourceRef[]> {
    this.running += 1;
    this.mostAtOnce = Math.max(this.mostAtOnce, this.running);
    await this.gateOf(incoming.nonce).promise;
    this.running -= 1;
    this.applied.push(incoming.nonce);
    this.held = incoming.resources.map(({ type, name, version }) => ({
      type: type as ResourceRef['type'],
      name,
      version,
    }));
    return this.held;
  }
}

/** Waits until `condition` holds (polling), or fails naming `what`. */
const until = (condition: () => boolean, what: string): Promise<true> =>
  waitFor(
    () => (condition() ? true : undefined),
    5_000,
    () => what,
  );

const hellos = (stream: ScriptedStream | undefined): Hello[] =>
  messagesOf(stream, 'hello').map(({ hello }) => hello);

describe('control client: reconnects and transactions', () => {
  let plane: ScriptedControlPlane;

  before(async () => {
    plane = new ScriptedControlPlane({ placesSessions: false });
    await plane.listen();
  });

  after(() => {
    plane.close();
  });

  it('applies updates one at a time, in order, and answers each', async () => {
    const node = new SlowNode(plane.address);
    const start = plane.streams.length;
    node.client.start();
    await until(() => hellos(plane.streams[start]).length === 1, 'hello');
    const stream = plane.streams[start];
    assert.ok(stream);
    stream.call.write(update('1', 'v2'));
    stream.call.write(update('2', 'v3'));
    await until(() => node.running === 1, 'first update in its transaction');
    // Give the second update every chance to start while the first is held.
    await new Promise((resolve) => setTimeout(resolve, 100));
    node.gateOf('1').open();
    node.gateOf('2').open();
    await until(
      () => stream.messages.filter((message) => message.kind === 'ack').length === 2,
      'two ACKs',
    );
    assert.equal(node.mostAtOnce, 1, 'never two transactions at once');
    assert.deepEqual(node.applied, ['1', '2']);
    await node.client.close();
  });

  it('after a reconnect the Hello waits for the update in flight; the dead stream’s next update is not applied', async () => {
    const node = new SlowNode(plane.address);
    const start = plane.streams.length;
    node.client.start();
    await until(() => hellos(plane.streams[start]).length === 1, 'first hello');
    const first = plane.streams[start];
    assert.ok(first);
    assert.deepEqual(hellos(first)[0]?.resources, [route('v1')]);
    first.call.write(update('1', 'v2'));
    first.call.write(update('2', 'v3'));
    await until(() => node.running === 1, 'update 1 in its transaction');
    // The control plane drops the stream while update 1 is being applied.
    first.call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'going away' });
    await until(() => plane.streams.length > start + 1, 'the node reconnects');
    const second = plane.streams[start + 1];
    assert.ok(second);
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(second.messages.length, 0, 'nothing is said before the update in flight settles');
    node.gateOf('1').open();
    await until(() => hellos(second).length === 1, 'second hello');
    assert.deepEqual(
      hellos(second)[0]?.resources,
      [route('v2')],
      'the Hello names what update 1 put in force',
    );
    assert.equal(second.messages[0]?.kind, 'hello', 'the Hello comes first');
    node.gateOf('2').open();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(node.applied, ['1'], 'update 2 came on the dead stream: not applied');
    await node.client.close();
  });

  it('close() resolves only once the update in flight has been applied', async () => {
    const node = new SlowNode(plane.address);
    const start = plane.streams.length;
    node.client.start();
    await until(() => hellos(plane.streams[start]).length === 1, 'hello');
    plane.streams[start]?.call.write(update('1', 'v2'));
    plane.streams[start]?.call.write(update('2', 'v3'));
    await until(() => node.running === 1, 'update 1 in its transaction');
    let closed = false;
    const closing = node.client.close().then(() => {
      closed = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(closed, false, 'close waits for the transaction');
    node.gateOf('1').open();
    node.gateOf('2').open();
    await closing;
    assert.deepEqual(node.applied, ['1'], 'the update queued behind it is not applied after close');
  });
});
