/**
 * Discovery's pure parts: EndpointSlices to a cluster's endpoints (which
 * endpoints serve, which port, IPv6, merge order, hostile slices), the
 * endpoint-slices layer through a real ConfigStore, Pods to what the
 * registry keeps, and a deleted Pod making its node stale at once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateConfig } from '../../../../src/config/index.js';
import { ConfigStore } from '../../../../src/control-plane/config-push/index.js';
import {
  ENDPOINT_SLICES_LAYER,
  MAX_SERVICE_SLICES,
  ServiceSlices,
  endpointSlicesLayer,
  endpointsFor,
  parsePod,
  parseSlice,
  type SliceDefect,
  type SliceEndpoints,
} from '../../../../src/control-plane/kubernetes/discovery/index.js';
import { Registry } from '../../../../src/control-plane/registry/index.js';
import type { RegisterRequest } from '../../../../src/protocol/mesh/index.js';

type Endpoint = Readonly<Record<string, unknown>>;

const ready = (address: string, conditions: Endpoint = { ready: true }): Endpoint => ({
  addresses: [address],
  conditions,
});

function slice(
  name: string,
  endpoints: unknown,
  ports: unknown = [{ name: 'http', port: 8080, protocol: 'TCP' }],
  addressType = 'IPv4',
): unknown {
  return { metadata: { name }, addressType, endpoints, ports };
}

/** Parses slices, collecting the defects counted. */
function parseAll(objects: readonly unknown[]): {
  slices: SliceEndpoints[];
  defects: SliceDefect[];
} {
  const defects: SliceDefect[] = [];
  const slices = objects.flatMap((object) => parseSlice(object, (d) => defects.push(d)) ?? []);
  return { slices, defects };
}

function endpointsOf(objects: readonly unknown[], port: string | number = 'http'): string[] {
  const { slices } = parseAll(objects);
  return endpointsFor(slices, port, () => undefined);
}

describe('EndpointSlices to endpoints', () => {
  it('keeps endpoints whose ready is not false and that are not terminating', () => {
    const endpoints = endpointsOf([
      slice('api-1', [
        ready('10.0.0.1'),
        ready('10.0.0.2', {}), // unknown readiness is ready (the API's definition)
        { addresses: ['10.0.0.3'] }, // no conditions at all: likewise
        ready('10.0.0.4', { ready: false }),
        ready('10.0.0.5', { ready: true, terminating: true }),
        ready('10.0.0.6', { ready: false, serving: true, terminating: true }),
      ]),
    ]);
    assert.deepEqual(endpoints, ['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.3:8080']);
  });

  it('picks the slice port by the Service port name, or by number', () => {
    const ports = [
      { name: 'http', port: 8080, protocol: 'TCP' },
      { name: 'metrics', port: 9090 },
      { name: 'dns', port: 53, protocol: 'UDP' },
    ];
    const one = [slice('api-1', [ready('10.0.0.1')], ports)];
    assert.deepEqual(endpointsOf(one, 'http'), ['10.0.0.1:8080']);
    assert.deepEqual(endpointsOf(one, 'metrics'), ['10.0.0.1:9090']);
    assert.deepEqual(endpointsOf(one, 9090), ['10.0.0.1:9090']);
    assert.deepEqual(endpointsOf(one, 'dns'), [], 'UDP ports are not HTTP endpoints');
    assert.deepEqual(endpointsOf(one, 'grpc'), [], 'no such port: nothing');
    assert.deepEqual(endpointsOf(one, 80), [], 'a number is the slice (target) port');
    // A Service with one unnamed port: its slice port has name "" (or none).
    const unnamed = [slice('web-1', [ready('10.0.0.9')], [{ port: 3000 }])];
    assert.deepEqual(endpointsOf(unnamed, 3000), ['10.0.0.9:3000']);
  });

  it('uses each slice its own port number for the same name (a targetPort change mid-rollout)', () => {
    const endpoints = endpointsOf([
      slice('api-old', [ready('10.0.0.1')], [{ name: 'http', port: 8080 }]),
      slice('api-new', [ready('10.0.0.2')], [{ name: 'http', port: 8081 }]),
    ]);
    assert.deepEqual(endpoints, ['10.0.0.1:8080', '10.0.0.2:8081']);
  });

  it('writes IPv6 addresses in brackets', () => {
    const endpoints = endpointsOf([
      slice('api-v6', [ready('fd00::2'), ready('fd00::1')], undefined, 'IPv6'),
    ]);
    assert.deepEqual(endpoints, ['[fd00::1]:8080', '[fd00::2]:8080']);
  });

  it('merges the slices of a Service, de-duplicated and sorted, whatever their order', () => {
    const a = slice('api-a', [ready('10.0.0.3'), ready('10.0.0.1')]);
    const b = slice('api-b', [ready('10.0.0.2'), ready('10.0.0.1')]);
    const merged = endpointsOf([a, b]);
    assert.deepEqual(merged, ['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.3:8080']);
    assert.deepEqual(endpointsOf([b, a]), merged, 'the same set gives the same list');
  });

  it('drops and counts what a hostile API server could send, never throwing', () => {
    const tooMany = slice(
      'api-huge',
      Array.from({ length: 10_000 }, (_, i) => ready(`10.${i >> 8}.${i & 255}.1`)),
    );
    const { slices, defects } = parseAll([
      null,
      'a string',
      [],
      { metadata: {} },
      { metadata: { name: 7 } },
      slice('api-fqdn', [ready('api.example.com')], undefined, 'FQDN'),
      slice('api-no-type', [ready('10.0.0.1')], undefined, ''),
      tooMany,
      slice('api-bad-endpoints', 'not a list'),
      slice('api-bad-ports', [ready('10.0.0.1')], { http: 8080 }),
      slice('api-parts', [
        ready('10.0.0.1'),
        ready('not-an-ip'),
        ready('fd00::1'), // IPv6 in an IPv4 slice
        ready('10.0.0.2; rm -rf /'),
        { addresses: 'nope' },
        { addresses: [] },
        null,
        ready('10.0.0.2'),
      ]),
      slice(
        'api-bad-port-entries',
        [ready('10.0.0.7')],
        [
          { name: 'http', port: 70_000 },
          { name: 'http', port: '80' },
          'http',
          { name: 5, port: 80 },
        ],
      ),
      slice('api-zone', [ready('fe80::1%eth0')], undefined, 'IPv6'),
    ]);
    const count = (defect: SliceDefect): number => defects.filter((d) => d === defect).length;
    assert.equal(count('not_an_object'), 3);
    assert.equal(count('no_name'), 2);
    assert.equal(count('bad_address_type'), 2);
    assert.equal(count('too_many_endpoints'), 1);
    assert.equal(count('bad_endpoint'), 2 + 1, 'the unreadable list, two unreadable entries');
    assert.equal(count('bad_port'), 1 + 4);
    assert.equal(count('bad_address'), 3 + 1 + 1, 'three bad ones, the empty addresses, the zone');
    assert.deepEqual(
      slices.map((s) => s.name),
      ['api-parts', 'api-bad-port-entries', 'api-zone'],
    );
    assert.deepEqual(
      endpointsFor(slices, 'http', () => undefined),
      ['10.0.0.1:8080', '10.0.0.2:8080'],
    );
  });

  it('holds at most what a cluster may hold, counting the rest', () => {
    const slices = Array.from({ length: 5 }, (_, s) =>
      slice(
        `api-${s}`,
        Array.from({ length: 1000 }, (_, i) => ready(`10.${s}.${i >> 8}.${i & 255}`)),
      ),
    );
    const { slices: parsed } = parseAll(slices);
    const defects: SliceDefect[] = [];
    const endpoints = endpointsFor(parsed, 'http', (d) => defects.push(d));
    assert.equal(endpoints.length, 4096);
    assert.deepEqual(defects, ['too_many_endpoints']);
    // What the store accepts: the composed config is validated whole.
    assert.doesNotThrow(() =>
      validateConfig(
        { proxy: { http: { clusters: [{ name: 'api', endpoints }] } } },
        'endpoint-slices',
      ),
    );
  });
});

describe("a Service's slices as its list and watch hand them over", () => {
  it('replaces all on a list, follows events by name, drops what turned unreadable, caps the count', () => {
    const defects: SliceDefect[] = [];
    const slices = new ServiceSlices((d) => defects.push(d));
    const endpoints = () => endpointsFor(slices.values(), 'http', () => undefined);
    assert.equal(slices.listed, false);
    slices.list([slice('a', [ready('10.0.0.1')]), slice('b', [ready('10.0.0.2')])]);
    assert.equal(slices.listed, true);
    assert.deepEqual(endpoints(), ['10.0.0.1:8080', '10.0.0.2:8080']);
    slices.event('MODIFIED', slice('a', [ready('10.0.0.3')]));
    slices.event('DELETED', slice('b', []));
    assert.deepEqual(endpoints(), ['10.0.0.3:8080']);
    // A re-list (after a dropped watch) replaces what was known: b is gone.
    slices.event('ADDED', slice('b', [ready('10.0.0.2')]));
    slices.list([slice('a', [ready('10.0.0.3')])]);
    assert.deepEqual(endpoints(), ['10.0.0.3:8080']);
    // A slice rewritten into something unreadable no longer counts.
    slices.event('MODIFIED', slice('a', [ready('10.0.0.3')], undefined, 'FQDN'));
    assert.deepEqual(endpoints(), []);
    slices.event('DELETED', null);
    for (let i = 0; i < MAX_SERVICE_SLICES + 5; i += 1) {
      slices.event('ADDED', slice(`s${i}`, [ready(`10.1.${i >> 8}.${i & 255}`)]));
    }
    assert.equal(slices.values().length, MAX_SERVICE_SLICES);
    assert.equal(defects.filter((d) => d === 'too_many_slices').length, 5);
    // A known slice still updates at the cap.
    slices.event('MODIFIED', slice('s0', []));
    assert.equal(slices.values().length, MAX_SERVICE_SLICES);
    assert.ok(!endpoints().includes('10.1.0.0:8080'));
  });
});

describe('the endpoint-slices layer', () => {
  const base = validateConfig(
    {
      controlPlane: { registry: 'kubernetes' },
      proxy: {
        http: {
          clusters: [
            { name: 'api', service: { name: 'api', port: 'http' } },
            { name: 'other', endpoints: ['10.9.9.9:80'], service: { name: 'other', port: 80 } },
            { name: 'remote', service: { name: 'api', namespace: 'remote', port: 'http' } },
            { name: 'static', endpoints: ['10.8.8.8:80'] },
          ],
        },
      },
    },
    'test',
  );
  const endpointsIn = (store: ConfigStore): Record<string, readonly string[]> =>
    Object.fromEntries(
      store.current.config.proxy.http.clusters.map((cluster) => [cluster.name, cluster.endpoints]),
    );

  it('sets the endpoints of clusters whose Service was listed, keeps the others, and pushes nothing for the same set', () => {
    const store = new ConfigStore(base, 'file');
    const { slices } = parseAll([slice('api-1', [ready('10.0.0.2'), ready('10.0.0.1')])]);
    const layer = (known: Map<string, readonly SliceEndpoints[]>) =>
      endpointSlicesLayer(known, 'web', () => undefined);
    assert.equal(
      store.setLayer(ENDPOINT_SLICES_LAYER, layer(new Map([['web/api', slices]])), 'test'),
      true,
    );
    assert.deepEqual(endpointsIn(store), {
      api: ['10.0.0.1:8080', '10.0.0.2:8080'],
      other: ['10.9.9.9:80'], // not listed yet: the file's endpoints stay
      remote: [], // another namespace's Service, not listed yet
      static: ['10.8.8.8:80'],
    });
    const version = store.current.version;
    const reordered = parseAll([slice('api-1', [ready('10.0.0.1'), ready('10.0.0.2')])]).slices;
    assert.equal(
      store.setLayer(ENDPOINT_SLICES_LAYER, layer(new Map([['web/api', reordered]])), 'test'),
      false,
    );
    assert.equal(store.current.version, version);

    // Listed with no ready endpoint: an empty list, which the schema accepts with `service`.
    const none = parseAll([slice('api-1', [ready('10.0.0.1', { ready: false })])]).slices;
    assert.equal(
      store.setLayer(
        ENDPOINT_SLICES_LAYER,
        layer(
          new Map([
            ['web/api', none],
            ['web/other', []],
          ]),
        ),
        'test',
      ),
      true,
    );
    assert.deepEqual(endpointsIn(store).api, []);
    assert.deepEqual(endpointsIn(store).other, []);

    // The base changes (a file edit): the layer is laid over the new base.
    const edited = validateConfig(
      {
        controlPlane: { registry: 'kubernetes' },
        proxy: { http: { clusters: [{ name: 'api2', service: { name: 'api', port: 'http' } }] } },
      },
      'file',
    );
    store.setLayer(ENDPOINT_SLICES_LAYER, layer(new Map([['web/api', slices]])), 'test');
    store.set(edited, 'file');
    assert.deepEqual(endpointsIn(store), { api2: ['10.0.0.1:8080', '10.0.0.2:8080'] });
  });
});

describe('Pods', () => {
  const pod = {
    metadata: { name: 'streammesh-proxy-x1', uid: 'u-1', deletionTimestamp: undefined },
    spec: { nodeName: 'worker-1' },
    status: { podIP: '10.1.0.7' },
  };

  it('keeps name, uid, node, IP and when it started terminating; drops what it cannot read', () => {
    const defects: string[] = [];
    const count = (d: string): void => void defects.push(d);
    assert.deepEqual(parsePod(pod, count), {
      name: 'streammesh-proxy-x1',
      uid: 'u-1',
      nodeName: 'worker-1',
      podIP: '10.1.0.7',
      terminatingSince: null,
    });
    const terminating = parsePod(
      { ...pod, metadata: { ...pod.metadata, deletionTimestamp: new Date(5_000) } },
      count,
    );
    assert.equal(terminating?.terminatingSince, new Date(5_000).toISOString());
    // Pending, unscheduled: no node and no IP yet.
    assert.deepEqual(parsePod({ metadata: { name: 'p', uid: 'u' } }, count), {
      name: 'p',
      uid: 'u',
      nodeName: null,
      podIP: null,
      terminatingSince: null,
    });
    assert.equal(parsePod({ ...pod, status: { podIP: 'evil' } }, count)?.podIP, null);
    assert.equal(parsePod(null, count), undefined);
    assert.equal(parsePod({ metadata: { name: 'x'.repeat(300), uid: 'u' } }, count), undefined);
    assert.equal(parsePod({ metadata: { name: 'p' } }, count), undefined);
    assert.deepEqual(defects, ['bad_address', 'not_an_object', 'no_name', 'no_name']);
  });

  it('a node whose Pod is deleted is stale at once, though its heartbeats go on, until a new Pod of its name', () => {
    const clock = { now: 1_000 };
    const registry = new Registry({
      clock: { now: () => clock.now },
      heartbeatIntervalMs: 1_000,
      staleAfterMissedHeartbeats: 3,
      maxNodes: 10,
      forgetAfterMs: 60_000,
    });
    const request: RegisterRequest = {
      identity: { id: 'streammesh-proxy-x1', node: 'n1', role: 'ROLE_PROXY' },
      capabilities: [],
      listenAddresses: {},
      currentVersion: '',
    };
    registry.register(request);
    registry.streamOpened('streammesh-proxy-x1');
    const view = () => registry.list()[0];
    assert.equal(view()?.pod, null, 'no Pod known yet');
    const live = { ...(parsePod(pod, () => undefined) ?? assert.fail()), deletedAt: null };
    assert.equal(registry.podSeen('streammesh-proxy-x1', live), true);
    assert.equal(registry.podSeen('unknown', live), false);
    assert.equal(view()?.state, 'connected');
    assert.equal(view()?.pod?.podIP, '10.1.0.7');

    registry.podSeen('streammesh-proxy-x1', { ...live, deletedAt: new Date(1_500).toISOString() });
    assert.equal(view()?.state, 'stale');
    clock.now += 200;
    registry.seen('streammesh-proxy-x1');
    assert.equal(view()?.state, 'stale', 'a heartbeat does not bring a deleted Pod back');
    registry.register({ ...request, currentVersion: '3-abc' });
    assert.equal(view()?.state, 'stale', 'nor a reconnect of the same process');

    registry.podSeen('streammesh-proxy-x1', { ...live, uid: 'u-2' });
    assert.equal(view()?.state, 'connected', 'a new Pod of that name');
  });
});
