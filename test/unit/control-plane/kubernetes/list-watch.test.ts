/**
 * The list+watch loop of every Kubernetes source (custom resources,
 * EndpointSlices, Pods), driven by a scripted client (the API server's side
 * of each call, in order) because the cases that matter — a 410 Gone as an
 * ERROR event or as a status, a dropped connection, a connection silent
 * without a FIN — cannot be had on demand from a real API server. What the
 * watch asks of the API server is read from a real HTTP request
 * (test/integration/kubernetes/list-watch-request.test.ts); the real
 * server's list and watch are exercised by
 * test/integration/kubernetes/{custom-resources,endpoint-slices,pods}.test.ts.
 * The bounded wait for the first lists (initial-lists.ts) is here too.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { initialLists } from '../../../../src/control-plane/kubernetes/initial-lists.js';
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

  it('a watch silent past its timeout plus the grace (a connection lost without a FIN) is aborted and resumed', async () => {
    let firstAborted: AbortSignal | undefined;
    const client = scriptedClient(
      [{ metadata: { resourceVersion: '10' }, items: [] }],
      [
        () => undefined, // never a byte, never an end
        (emit) => emit('ADDED', object('a', '11')),
      ],
    );
    const watchCall = client.watch.bind(client);
    client.watch = async (params, onEvent, onDone) => {
      const abort = await watchCall(params, onEvent, onDone);
      firstAborted ??= abort.signal;
      return abort;
    };
    const restarts: RestartReason[] = [];
    const events: string[] = [];
    const watch = new ListWatch({
      client,
      onList: () => undefined,
      onEvent: (type) => events.push(type),
      onRestart: (reason) => restarts.push(reason),
      log: createLogger('test', 'silent'),
      backoff: { baseMs: 1, maxMs: 2 },
      watchTimeoutSec: 1,
      silenceGraceMs: 100,
    });
    const started = performance.now();
    watch.start();
    await waitFor(
      () => (events.length > 0 ? true : undefined),
      5_000,
      () => 'a second watch',
    );
    const resumedMs = performance.now() - started;
    await watch.close();
    assert.equal(firstAborted?.aborted, true, 'the silent watch was aborted');
    assert.ok(resumedMs >= 1_100, `resumed after ${Math.round(resumedMs)} ms, not before`);
    assert.deepEqual(
      client.watchParams.map((params) => [params['resourceVersion'], params['timeoutSeconds']]),
      [
        ['10', 1],
        ['10', 1],
      ],
      'the server is asked to end each watch, which is resumed where it was',
    );
    assert.equal(client.listCalls, 1, 'resumed, not listed again');
    assert.equal(restarts.length, 1);
  });
});

describe('the first lists', () => {
  it('firstList resolves once the first list is handed over; initialLists waits for all, bounded', async () => {
    let answer: ((list: unknown) => void) | undefined;
    const client = scriptedClient([], []);
    client.list = () =>
      new Promise((resolve) => {
        answer = resolve;
      });
    const listed: string[] = [];
    const watch = new ListWatch({
      client,
      onList: () => listed.push('laid'),
      onEvent: () => undefined,
      log: createLogger('test', 'silent'),
    });
    watch.start();
    const metrics = new Registry();
    const options = { source: 'custom_resources', metrics, log: createLogger('test', 'silent') };
    const started = performance.now();
    assert.equal(
      await initialLists([watch.firstList], { ...options, timeoutMs: 200 }),
      false,
      'no list yet: the bound passes',
    );
    assert.ok(performance.now() - started >= 190);
    assert.match(
      await metrics.metrics(),
      /streammesh_control_plane_kubernetes_initial_list_timeouts_total\{source="custom_resources"\} 1/,
    );
    const waiting = initialLists([watch.firstList], { ...options, timeoutMs: 5_000 });
    answer?.({ metadata: { resourceVersion: '1' }, items: [] });
    assert.equal(await waiting, true);
    assert.deepEqual(listed, ['laid'], 'resolved after onList');
    await watch.close();

    const never = new ListWatch({
      client: { ...scriptedClient([], []), list: () => new Promise(() => undefined) },
      onList: () => undefined,
      onEvent: () => undefined,
      log: createLogger('test', 'silent'),
    });
    never.start();
    const closing = never.firstList;
    await never.close();
    await closing; // a closed source is waited for no longer
  });
});
