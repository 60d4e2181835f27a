/**
 * The list+watch loop of the custom-resources source, driven by a scripted
 * client (the API server's side of each call, in order) because the cases
 * that matter — a 410 Gone as an ERROR event or as a status, a dropped
 * connection — cannot be had on demand from a real API server. The real
 * server's list and watch are exercised by
 * test/integration/kubernetes/custom-resources.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ListWatch,
  type RestartReason,
  type WatchClient,
  type WatchParams,
} from '../../../../src/control-plane/kubernetes/list-watch.js';
import { createLogger } from '../../../../src/shared/log.js';
import { waitFor } from '../../../helpers/process.js';

type Emit = (type: string, object: unknown) => void;
type Done = (error: unknown) => void;
/** One watch call's script: what the server sends, then how the watch ends (or never, for undefined). */
type WatchScript = (emit: Emit, done: Done) => void;

const object = (name: string, resourceVersion: string): unknown => ({
  metadata: { name, namespace: 'mesh', uid: name, resourceVersion },
});

function scriptedClient(
  lists: unknown[],
  watches: WatchScript[],
): WatchClient & { listCalls: number; watchParams: WatchParams[] } {
  const client = {
    path: '/apis/streammesh.io/v1alpha1/namespaces/mesh/cameras',
    listCalls: 0,
    watchParams: [] as WatchParams[],
    list: () => {
      const list = lists[client.listCalls];
      client.listCalls += 1;
      return list === undefined
        ? Promise.reject(new Error('no more lists'))
        : Promise.resolve(list);
    },
    watch: (params: WatchParams, onEvent: Emit, onDone: Done) => {
      const script = watches[client.watchParams.length];
      client.watchParams.push(params);
      const abort = new AbortController();
      abort.signal.addEventListener('abort', () => onDone(null));
      // As the real Watch: events arrive after the call resolved.
      setImmediate(() => script?.(onEvent, onDone));
      return Promise.resolve(abort);
    },
  };
  return client;
}

describe('ListWatch', () => {
  it('resumes from the last resourceVersion, lists again on 410 (event or status), resumes after an error', async () => {
    const client = scriptedClient(
      [
        { metadata: { resourceVersion: '10' }, items: [object('a', '9')] },
        { metadata: { resourceVersion: '20' }, items: [object('b', '11')] },
        { metadata: { resourceVersion: '30' }, items: [] },
      ],
      [
        (emit, done) => {
          emit('ADDED', object('b', '11'));
          emit('BOOKMARK', { metadata: { resourceVersion: '12' } });
          done(null); // the server's timeoutSeconds
        },
        (emit, done) => {
          emit('ERROR', { kind: 'Status', code: 410, reason: 'Expired' });
          done(null);
        },
        (_emit, done) => done(Object.assign(new Error('Gone'), { statusCode: 410 })),
        (_emit, done) => done(new Error('socket hang up')),
        (emit) => {
          emit('MODIFIED', null); // hostile: no metadata
          emit('DELETED', object('c', '31'));
          emit('ADDED', object('throws', '32'));
          emit('ADDED', object('d', '33'));
        },
      ],
    );
    const lists: string[][] = [];
    const events: string[] = [];
    const restarts: RestartReason[] = [];
    const watch = new ListWatch({
      client,
      onList: (items) =>
        lists.push(items.map((item) => (item as { metadata: { name: string } }).metadata.name)),
      onEvent: (type, item) => {
        const name = (item as { metadata?: { name?: string } } | null)?.metadata?.name ?? '?';
        if (name === 'throws') throw new Error('a bug in a handler');
        events.push(`${type} ${name}`);
      },
      onRestart: (reason) => restarts.push(reason),
      log: createLogger('test', 'silent'),
      backoff: { baseMs: 1, maxMs: 2 },
    });
    watch.start();
    await waitFor(
      () => (events.includes('ADDED d') ? true : undefined),
      5_000,
      () => `events ${JSON.stringify(events)}`,
    );
    await watch.close();
    assert.deepEqual(restarts, ['closed', 'gone', 'gone', 'error']);
    assert.deepEqual(lists, [['a'], ['b'], []], 'listed at start and after each 410');
    assert.deepEqual(
      client.watchParams.map((params) => params['resourceVersion']),
      ['10', '12', '20', '30', '30'],
      'each watch from the last version seen (a bookmark too), from the new list after a 410',
    );
    assert.ok(client.watchParams.every((params) => params['allowWatchBookmarks'] === true));
    assert.deepEqual(events, ['ADDED b', 'MODIFIED ?', 'DELETED c', 'ADDED d']);
  });

  it('a failing list is retried with backoff, and close() ends the loop', async () => {
    const client = scriptedClient([], []);
    const restarts: RestartReason[] = [];
    const watch = new ListWatch({
      client,
      onList: () => undefined,
      onEvent: () => undefined,
      onRestart: (reason) => restarts.push(reason),
      log: createLogger('test', 'silent'),
      backoff: { baseMs: 1, maxMs: 2 },
    });
    watch.start();
    await waitFor(() => (client.listCalls >= 3 ? true : undefined), 5_000);
    await watch.close();
    const calls = client.listCalls;
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(client.listCalls, calls, 'no call after close');
    assert.ok(restarts.every((reason) => reason === 'error'));
    assert.equal(client.watchParams.length, 0);
  });
});
