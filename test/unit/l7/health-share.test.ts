/**
 * Health shared between L7 threads, without sockets: a checker that owns no
 * endpoint never probes and takes what it adopts (newest stamp wins), a
 * cluster asks for the others' health when it starts and adopts only states
 * of an instance with its settings, and the channel carries each kind of
 * message between two instances (a BroadcastChannel within this thread:
 * in-process, no socket) and drops malformed ones.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BroadcastChannel } from 'node:worker_threads';
import { pino } from 'pino';
import { Cluster, type ClusterStateShare } from '../../../rtp-proxy/l7/cluster/cluster.js';
import { HealthChecker, type HealthState } from '../../../rtp-proxy/l7/cluster/health-check.js';
import { healthOwner } from '../../../rtp-proxy/l7/cluster/health-owner.js';
import type { Ejection } from '../../../rtp-proxy/l7/cluster/outlier.js';
import {
  ClusterStateChannel,
  newSharedClusterState,
  type ClusterStatePeer,
} from '../../../rtp-proxy/l7/thread/cluster-state-channel.js';
import { httpSchema } from '../../../src/config/http-schema.js';

const log = pino({ level: 'silent' });
const targets = [
  { id: 'a:1', host: 'a', port: 1 },
  { id: 'b:2', host: 'b', port: 2 },
];
const options = {
  path: '/healthz',
  intervalMs: 1000,
  timeoutMs: 500,
  unhealthy: 2,
  healthy: 2,
  http2: false,
};

describe('HealthChecker.adopt', () => {
  it('probes no endpoint it does not own', async () => {
    const owned = new HealthChecker(targets, { ...options, owns: (id) => id === 'b:2' }, log);
    // A probe here is refused its socket (forbid-io.ts) and counts as a failed check.
    owned.start();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(
      owned.snapshot().map((entry) => [entry.id, entry.consecutiveFailures]),
      [
        ['a:1', 0],
        ['b:2', 1],
      ],
    );
    owned.close();
  });

  it('takes a newer state, ignores an older or equal one and unknown endpoints', () => {
    const checker = new HealthChecker(targets, { ...options, owns: () => false }, log);
    checker.start();
    assert.equal(checker.isHealthy('a:1'), true, 'healthy until told otherwise');
    assert.deepEqual(checker.decided(), []);

    assert.equal(checker.adopt({ id: 'a:1', healthy: false, since: 100 }), true);
    assert.equal(checker.isHealthy('a:1'), false);
    assert.equal(checker.adopt({ id: 'a:1', healthy: true, since: 99 }), false, 'older');
    assert.equal(checker.adopt({ id: 'a:1', healthy: true, since: 100 }), false, 'same stamp');
    assert.equal(checker.isHealthy('a:1'), false);
    assert.equal(checker.adopt({ id: 'c:3', healthy: false, since: 500 }), false, 'unknown');
    assert.equal(checker.isHealthy('c:3'), true);
    assert.equal(checker.adopt({ id: 'a:1', healthy: true, since: 200 }), true);
    assert.equal(checker.isHealthy('a:1'), true);
    // A newer stamp of the same health changes nothing but is remembered.
    assert.equal(checker.adopt({ id: 'b:2', healthy: true, since: 300 }), false);
    assert.deepEqual(checker.decided(), [
      { id: 'a:1', healthy: true, since: 200 },
      { id: 'b:2', healthy: true, since: 300 },
    ]);
    checker.close();
  });

  it('an endpoint removed and added again starts over, healthy', () => {
    const checker = new HealthChecker(targets, { ...options, owns: () => false }, log);
    checker.adopt({ id: 'b:2', healthy: false, since: 10 });
    checker.setTargets(targets.slice(0, 1));
    checker.setTargets(targets);
    assert.equal(checker.isHealthy('b:2'), true);
    assert.deepEqual(checker.decided(), []);
    checker.close();
  });
});

/**
 * A share that records what a cluster asks of it, owns nothing (or every
 * endpoint) and stamps from a counter starting after `stampsFrom`.
 */
function recordingShare(
  owns = false,
  stampsFrom = 0,
): ClusterStateShare & {
  readonly syncs: [string, string][];
  readonly health: [string, string, readonly HealthState[]][];
} {
  const syncs: [string, string][] = [];
  const health: [string, string, readonly HealthState[]][] = [];
  let stamps = stampsFrom;
  return {
    syncs,
    health,
    publishEjection: () => undefined,
    publishHealth: (cluster, settings, states) => health.push([cluster, settings, states]),
    requestSync: (cluster, settings) => syncs.push([cluster, settings]),
    owns: () => owns,
    stamp: () => (stamps += 1),
  };
}

function clusterConfig(path: string, check: { intervalMs?: number; unhealthy?: number } = {}) {
  return httpSchema.parse({
    listeners: [],
    routes: [],
    clusters: [
      { name: 'api', endpoints: ['127.0.0.1:1', '127.0.0.1:2'], healthCheck: { path, ...check } },
    ],
  });
}

describe('Cluster health across threads', () => {
  it('stamps its transitions from the share’s counter, not from its clock', async () => {
    // The clock says 7 (stepped back, say): a clock stamp would order this
    // transition before any a thread made earlier at a later clock reading.
    const share = recordingShare(true, 1_000);
    const http = clusterConfig('/healthz', { intervalMs: 5, unhealthy: 1 });
    const config = http.clusters[0];
    assert.ok(config !== undefined);
    const cluster = new Cluster(config, http, { log, share, clock: { now: () => 7 } });
    cluster.start();
    try {
      // Each probe is refused its socket (forbid-io.ts): both endpoints go unhealthy.
      for (let i = 0; i < 100 && share.health.length < 2; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const stamps = share.health.flatMap(([, , states]) => states.map((state) => state.since));
      assert.equal(stamps.length, 2, 'one transition per endpoint');
      assert.deepEqual([...stamps].sort(), [1_001, 1_002]);
    } finally {
      cluster.close();
    }
  });

  it('asks for the others’ health when it starts, and adopts states of its own settings only', () => {
    const share = recordingShare();
    const http = clusterConfig('/healthz');
    const config = http.clusters[0];
    assert.ok(config !== undefined);
    const cluster = new Cluster(config, http, { log, share });
    cluster.start();
    assert.deepEqual(share.syncs, [['api', cluster.settings]]);

    const otherHttp = clusterConfig('/other');
    const otherConfig = otherHttp.clusters[0];
    assert.ok(otherConfig !== undefined);
    const rebuilt = new Cluster(otherConfig, otherHttp, { log });
    assert.notEqual(rebuilt.settings, cluster.settings, 'other settings, other digest');

    const endpoint = { id: '127.0.0.1:2' };
    cluster.adoptHealth(rebuilt.settings, [{ id: endpoint.id, healthy: false, since: 5 }]);
    assert.equal(cluster.isAvailable(endpoint), true, 'a state of other settings is not taken');
    cluster.adoptHealth(cluster.settings, [{ id: endpoint.id, healthy: false, since: 5 }]);
    assert.equal(cluster.isAvailable(endpoint), false);
    assert.equal(cluster.hasAvailable, true, 'the other endpoint still takes requests');
    assert.deepEqual(cluster.decidedHealth(cluster.settings), [
      { id: endpoint.id, healthy: false, since: 5 },
    ]);
    assert.deepEqual(cluster.decidedHealth(rebuilt.settings), []);
    cluster.close();
    rebuilt.close();
  });

  it('a cluster without health checks asks nothing and adopts nothing', () => {
    const share = recordingShare();
    const http = httpSchema.parse({
      listeners: [],
      routes: [],
      clusters: [{ name: 'plain', endpoints: ['127.0.0.1:1'] }],
    });
    const config = http.clusters[0];
    assert.ok(config !== undefined);
    const cluster = new Cluster(config, http, { log, share });
    cluster.start();
    assert.deepEqual(share.syncs, []);
    cluster.adoptHealth(cluster.settings, [{ id: '127.0.0.1:1', healthy: false, since: 5 }]);
    assert.equal(cluster.isAvailable({ id: '127.0.0.1:1' }), true);
    cluster.close();
  });
});

/** A peer that records what arrives and answers syncs with `known`. */
function recordingPeer(
  known: readonly HealthState[] = [],
  ejected: readonly { readonly endpointId: string; readonly ejection: Ejection }[] = [],
) {
  const arrived: (readonly unknown[])[] = [];
  const peer: ClusterStatePeer = {
    adoptEjection: (cluster: string, endpointId: string, ejection: Ejection) => {
      arrived.push(['ejection', cluster, endpointId, ejection]);
    },
    adoptHealth: (cluster, settings, states) => arrived.push(['health', cluster, settings, states]),
    decidedHealth: (cluster, settings) => {
      arrived.push(['sync', cluster, settings]);
      return known;
    },
    currentEjections: () => ejected,
  };
  return { peer, arrived };
}

/** The last entry (a function: assert.deepEqual narrows a list it compared to that literal's type). */
const last = (list: readonly unknown[]): unknown => list.at(-1);

const turn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));

describe('ClusterStateChannel', () => {
  it('carries ejections, health and syncs between threads; a sync is answered with what is known', async () => {
    const shared = newSharedClusterState();
    const known = [{ id: 'a:1', healthy: false, since: 42 }];
    const left = recordingPeer();
    const right = recordingPeer(known, [
      { endpointId: 'c:3', ejection: { until: 7000, ejections: 2 } },
    ]);
    const a = new ClusterStateChannel(shared, { index: 0, threads: 2 }, left.peer);
    const b = new ClusterStateChannel(shared, { index: 1, threads: 2 }, right.peer);
    try {
      a.publishEjection('api', 'a:1', { until: 9000, ejections: 1 });
      a.publishHealth('api', 'digest', [{ id: 'b:2', healthy: true, since: 7 }]);
      await turn();
      assert.deepEqual(right.arrived, [
        ['ejection', 'api', 'a:1', { until: 9000, ejections: 1 }],
        ['health', 'api', 'digest', [{ id: 'b:2', healthy: true, since: 7 }]],
      ]);
      assert.deepEqual(left.arrived, [], 'a channel does not hear itself');

      a.requestSync('api', 'digest');
      await turn();
      assert.deepEqual(last(right.arrived), ['sync', 'api', 'digest']);
      assert.deepEqual(
        left.arrived,
        [
          ['health', 'api', 'digest', known],
          ['ejection', 'api', 'c:3', { until: 7000, ejections: 2 }],
        ],
        'answered at once, with the health and the ejections in force',
      );

      // A sync nobody knows anything about is not answered.
      b.requestSync('web', 'other');
      await turn();
      assert.deepEqual(last(left.arrived), ['sync', 'web', 'other']);
      assert.equal(right.arrived.filter((entry) => entry[0] === 'health').length, 1);
      assert.equal(
        right.arrived.filter((entry) => entry[0] === 'ejection').length,
        1,
        'the left thread has no ejection to tell',
      );

      // Each thread owns its share of the endpoints, as health-owner.ts says.
      for (const endpoint of ['a:1', 'b:2', 'c:3', 'd:4']) {
        const owner = healthOwner('api', endpoint, 2);
        assert.equal(a.owns('api', endpoint), owner === 0);
        assert.equal(b.owns('api', endpoint), owner === 1);
      }
    } finally {
      a.close();
      b.close();
    }
  });

  it('stamps from one counter for all threads, a restarted one included', () => {
    const shared = newSharedClusterState();
    const place = (index: number) => ({ index, threads: 2 });
    const a = new ClusterStateChannel(shared, place(0), recordingPeer().peer);
    const b = new ClusterStateChannel(shared, place(1), recordingPeer().peer);
    try {
      assert.deepEqual([a.stamp(), b.stamp(), a.stamp()], [1, 2, 3]);
      b.close();
      const restarted = new ClusterStateChannel(shared, place(1), recordingPeer().peer);
      assert.equal(restarted.stamp(), 4, 'a thread started again goes on from the same counter');
      restarted.close();
      // Another proxy's threads have a counter of their own.
      const other = new ClusterStateChannel(
        newSharedClusterState(),
        place(0),
        recordingPeer().peer,
      );
      assert.equal(other.stamp(), 1);
      other.close();
    } finally {
      a.close();
    }
  });

  it('drops a malformed message and goes on with the next', async () => {
    const shared = newSharedClusterState();
    const receiver = recordingPeer();
    const channel = new ClusterStateChannel(shared, { index: 0, threads: 2 }, receiver.peer);
    const raw = new BroadcastChannel(shared.channel);
    try {
      raw.postMessage({ kind: 'health', cluster: 'api', settings: 'd', states: [{ id: 'a:1' }] });
      raw.postMessage({ kind: 'ejection', cluster: 'api', endpoint: 'a:1', until: 'soon' });
      raw.postMessage('sync');
      raw.postMessage({ kind: 'sync', cluster: 'api', settings: 'd' });
      await turn();
      assert.deepEqual(receiver.arrived, [['sync', 'api', 'd']]);
    } finally {
      raw.close();
      channel.close();
    }
  });
});
