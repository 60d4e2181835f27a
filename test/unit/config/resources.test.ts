/**
 * A config split into typed resources assembles back to the same config;
 * each resource's version moves with its own body and nothing else; a bad
 * body or a whole-config issue names the resource that holds it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  assembleConfig,
  defaultConfig,
  isResourceRefusal,
  parseConfigText,
  refusedResourcesOf,
  resourceKey,
  resourcesNamedByRefusal,
  ResourcesRefusedError,
  splitConfig,
  type MeshConfig,
  type MeshResource,
} from '../../../src/config/index.js';
import { packageRoot } from '../../../src/shared/package-root.js';

const examplesDir = join(packageRoot(), 'examples');

function examples(): [string, MeshConfig][] {
  return readdirSync(examplesDir)
    .filter((name) => name.endsWith('.yaml'))
    .map((name) => [name, parseConfigText(readFileSync(join(examplesDir, name), 'utf8'), name)]);
}

/** Every resource type at least once, routes deliberately not in name order. */
const rich = parseConfigText(
  `
proxy:
  routes:
    - { name: zeta, listen: 127.0.0.1:5004, destinations: [{ address: 127.0.0.1:5006 }] }
    - { name: alpha, listen: 127.0.0.1:5008, destinations: [{ address: 127.0.0.1:5010 }] }
  rtsp:
    paths:
      cams/front.door: { source: rtsp://127.0.0.1:8555/a }
      live: { source: publisher }
  http:
    listeners:
      - { name: edge, listen: 127.0.0.1:15001 }
    routes:
      - { name: second, match: { path: { prefix: /b } }, action: { cluster: users } }
      - { name: first, match: { path: { prefix: / } }, action: { cluster: users } }
    clusters:
      - { name: users, endpoints: [127.0.0.1:3001, 127.0.0.1:3002] }
      - { name: admins, endpoints: [127.0.0.1:3003] }
`,
  'rich',
);

const versions = (config: MeshConfig): Map<string, string> =>
  new Map(splitConfig(config).map((item) => [resourceKey(item), item.version]));

/** The keys whose version differs between two configs (added and removed included). */
function changedKeys(before: MeshConfig, after: MeshConfig): string[] {
  const a = versions(before);
  const b = versions(after);
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((key) => a.get(key) !== b.get(key)).sort();
}

function refusal(resources: readonly MeshResource[]): ResourcesRefusedError {
  try {
    assembleConfig(resources, 'test');
  } catch (error) {
    assert.ok(error instanceof ResourcesRefusedError, String(error));
    return error;
  }
  assert.fail('the resources were accepted');
}

function replaceBody(
  resources: readonly MeshResource[],
  key: string,
  edit: (body: Record<string, unknown>) => Record<string, unknown>,
): MeshResource[] {
  return resources.map((item) =>
    resourceKey(item) === key
      ? { ...item, body: edit(item.body as Record<string, unknown>) }
      : item,
  );
}

describe('config resources', () => {
  it('assemble(split(c)) is c for the defaults, every example and a config with every type', () => {
    const configs: [string, MeshConfig][] = [
      ['defaults', defaultConfig({})],
      ['rich', rich],
      ...examples(),
    ];
    assert.ok(configs.length > 3);
    for (const [name, config] of configs) {
      assert.deepEqual(assembleConfig(splitConfig(config), name), config, name);
    }
  });

  it('splits into one resource per list entry, named after it', () => {
    const keys = splitConfig(rich).map(resourceKey).sort();
    assert.deepEqual(keys, [
      'HTTP_CLUSTER/admins',
      'HTTP_CLUSTER/users',
      'HTTP_ENDPOINTS/admins',
      'HTTP_ENDPOINTS/users',
      'HTTP_LISTENER/edge',
      'HTTP_ROUTE/first',
      'HTTP_ROUTE/second',
      'MEDIA_ROUTE/alpha',
      'MEDIA_ROUTE/zeta',
      'MESH_SETTINGS/mesh',
      'RTSP_PATH/cams/front.door',
      'RTSP_PATH/live',
      'RTSP_SETTINGS/rtsp',
      'SIGNALING_SETTINGS/signaling',
    ]);
  });

  it('a change of one media route changes that resource only', () => {
    const changed = structuredClone(rich);
    const route = changed.proxy.routes.find((item) => item.name === 'alpha');
    assert.ok(route);
    route.clockRate = 48_000;
    assert.deepEqual(changedKeys(rich, changed), ['MEDIA_ROUTE/alpha']);
  });

  it('an endpoint-only change changes that cluster’s HTTP_ENDPOINTS only', () => {
    const changed = structuredClone(rich);
    const cluster = changed.proxy.http.clusters.find((item) => item.name === 'users');
    assert.ok(cluster);
    cluster.endpoints = [...cluster.endpoints, '127.0.0.1:3009'];
    assert.deepEqual(changedKeys(rich, changed), ['HTTP_ENDPOINTS/users']);
  });

  it('adding or removing a media route touches only that route', () => {
    const removed = structuredClone(rich);
    removed.proxy.routes = removed.proxy.routes.filter((item) => item.name !== 'zeta');
    assert.deepEqual(changedKeys(rich, removed), ['MEDIA_ROUTE/zeta']);
    assert.deepEqual(changedKeys(removed, rich), ['MEDIA_ROUTE/zeta']);
  });

  it('the order of resources, and of media routes in the config, does not change versions', () => {
    const reordered = structuredClone(rich);
    reordered.proxy.routes.reverse();
    reordered.proxy.http.clusters.reverse();
    assert.deepEqual(changedKeys(rich, reordered), []);
    const resources = splitConfig(rich);
    const shuffled = [...resources].reverse();
    assert.deepEqual(assembleConfig(shuffled, 'shuffled'), rich, 'the list order is irrelevant');
    assert.deepEqual(
      splitConfig(assembleConfig(shuffled, 'shuffled')).map((item) => item.version),
      resources.map((item) => item.version),
    );
  });

  it('HTTP route order is config: reordering them changes MESH_SETTINGS (routeOrder)', () => {
    const reordered = structuredClone(rich);
    reordered.proxy.http.routes.reverse();
    assert.deepEqual(changedKeys(rich, reordered), ['MESH_SETTINGS/mesh']);
    assert.deepEqual(
      assembleConfig(splitConfig(reordered), 'reordered').proxy.http.routes.map((r) => r.name),
      ['first', 'second'],
    );
  });

  it('a body its schema refuses is an issue of that resource', () => {
    const resources = replaceBody(splitConfig(rich), 'MEDIA_ROUTE/alpha', (body) => ({
      ...body,
      clockRate: 'fast',
    }));
    const error = refusal(resources);
    assert.deepEqual(
      error.resourceIssues.map((issue) => `${issue.type}/${issue.name}`),
      ['MEDIA_ROUTE/alpha'],
    );
    assert.match(error.resourceIssues[0]?.reason ?? '', /clockRate/);
  });

  it('a whole-config issue is traced to the resource holding the path', () => {
    // Two routes on one listen address: the second one's path is reported.
    const resources = replaceBody(splitConfig(rich), 'MEDIA_ROUTE/alpha', (body) => ({
      ...body,
      listen: '127.0.0.1:5004',
    }));
    const error = refusal(resources);
    assert.deepEqual(
      error.resourceIssues.map((issue) => `${issue.type}/${issue.name}`),
      ['MEDIA_ROUTE/alpha'],
    );
    // An HTTP route naming a cluster that is gone.
    const orphan = splitConfig(rich).filter(
      (item) => item.name !== 'users' || !item.type.startsWith('HTTP_'),
    );
    assert.deepEqual(
      refusal(orphan).resourceIssues.map((issue) => `${issue.type}/${issue.name}`),
      ['HTTP_ROUTE/second', 'HTTP_ROUTE/first'],
    );
    // A path source that is not a URL, in a path whose name holds "." and "/".
    const badPath = replaceBody(splitConfig(rich), 'RTSP_PATH/cams/front.door', (body) => ({
      ...body,
      source: 'http://nope',
    }));
    assert.deepEqual(
      refusal(badPath).resourceIssues.map((issue) => `${issue.type}/${issue.name}`),
      ['RTSP_PATH/cams/front.door'],
    );
  });

  it('a cluster without endpoints, or a missing settings resource, is named', () => {
    const noEndpoints = splitConfig(rich).filter(
      (item) => resourceKey(item) !== 'HTTP_ENDPOINTS/admins',
    );
    assert.deepEqual(
      refusal(noEndpoints).resourceIssues.map((issue) => `${issue.type}/${issue.name}`),
      ['HTTP_CLUSTER/admins'],
    );
    const noSettings = splitConfig(rich).filter((item) => item.type !== 'RTSP_SETTINGS');
    assert.deepEqual(
      refusal(noSettings).resourceIssues.map((issue) => `${issue.type}/${issue.name}`),
      ['RTSP_SETTINGS/rtsp'],
    );
  });

  const relayTypes = ['MEDIA_ROUTE', 'MESH_SETTINGS'] as const;
  const l7Types = [
    'HTTP_LISTENER',
    'HTTP_ROUTE',
    'HTTP_CLUSTER',
    'HTTP_ENDPOINTS',
    'MESH_SETTINGS',
  ] as const;

  it('a participant refusal names the resources its message quotes, else all of its types', () => {
    const update = splitConfig(rich).map(({ type, name, version }) => ({ type, name, version }));
    const quoted = resourcesNamedByRefusal(
      relayTypes,
      'proxy.routes alpha: cannot bind 127.0.0.1:5008: EADDRINUSE',
      update,
    );
    assert.deepEqual(quoted.map(resourceKey), ['MEDIA_ROUTE/alpha']);
    const withBodies = splitConfig(rich);
    const byAddress = resourcesNamedByRefusal(
      l7Types,
      'l7: listen EADDRINUSE: address already in use 127.0.0.1:15001',
      withBodies,
    );
    assert.deepEqual(byAddress.map(resourceKey), ['HTTP_LISTENER/edge']);
    const unnamed = resourcesNamedByRefusal(l7Types, 'something broke', update);
    assert.deepEqual(unnamed.map((ref) => ref.type).sort(), [
      'HTTP_CLUSTER',
      'HTTP_CLUSTER',
      'HTTP_ENDPOINTS',
      'HTTP_ENDPOINTS',
      'HTTP_LISTENER',
      'HTTP_ROUTE',
      'HTTP_ROUTE',
      'MESH_SETTINGS',
    ]);
    const unknown = resourcesNamedByRefusal(undefined, 'no idea', update);
    assert.equal(unknown.length, update.length);
  });

  it('a short name is not found in a message by accident; a name given as "<name>:" or in quotes is', () => {
    const config = parseConfigText(
      `
proxy:
  routes:
    - { name: in, listen: 127.0.0.1:5004, destinations: [{ address: 127.0.0.1:5006 }] }
    - { name: a, listen: 127.0.0.1:5008, destinations: [{ address: 127.0.0.1:5010 }] }
    - { name: use, listen: 127.0.0.1:5012, destinations: [{ address: 127.0.0.1:5014 }] }
`,
      'short names',
    );
    const update = splitConfig(config).filter((item) => item.type === 'MEDIA_ROUTE');
    const inUse = resourcesNamedByRefusal(relayTypes, 'bind: address is in use (a port)', update);
    assert.deepEqual(inUse.map(resourceKey).sort(), update.map(resourceKey).sort(), 'none quoted');
    const colon = resourcesNamedByRefusal(relayTypes, 'proxy.routes a: address is in use', update);
    assert.deepEqual(colon.map(resourceKey), ['MEDIA_ROUTE/a']);
    const quotedName = resourcesNamedByRefusal(relayTypes, 'route "in" cannot be built', update);
    assert.deepEqual(quotedName.map(resourceKey), ['MEDIA_ROUTE/in']);
    // A listen address is not found inside a longer one (127.0.0.1:50040).
    const longer = resourcesNamedByRefusal(relayTypes, 'cannot bind 127.0.0.1:50040', update);
    assert.equal(longer.length, update.length);
  });

  it('a refusal carries its resources on the error or on an error of its cause chain', () => {
    const refusal = Object.assign(new Error('route cannot be built'), {
      resources: [{ type: 'MEDIA_ROUTE', name: 'in' }],
    });
    assert.equal(isResourceRefusal(refusal), true);
    assert.deepEqual(refusedResourcesOf(refusal), [{ type: 'MEDIA_ROUTE', name: 'in' }]);
    const wrapped = new Error('relay: refused', { cause: new Error('inner', { cause: refusal }) });
    assert.deepEqual(refusedResourcesOf(wrapped), [{ type: 'MEDIA_ROUTE', name: 'in' }]);
    assert.equal(refusedResourcesOf(new Error('plain')), undefined);
    // Malformed refs are not trusted: an unknown type, a name that is not a string.
    const badType = Object.assign(new Error('x'), { resources: [{ type: 'ROUTE', name: 'a' }] });
    const badName = Object.assign(new Error('x'), { resources: [{ type: 'MEDIA_ROUTE' }] });
    assert.equal(isResourceRefusal(badType), false);
    assert.equal(refusedResourcesOf(badName), undefined);
    // A cause chain that loops ends.
    const looped: Error & { cause?: unknown } = new Error('loop');
    looped.cause = looped;
    assert.equal(refusedResourcesOf(looped), undefined);
  });
});
