/**
 * Custom resources from plain objects, through a real ConfigStore: each
 * object validated alone with the file's messages, the valid ones laid as
 * one layer, clashes refused (the file wins, the older object wins), the
 * conditions each object is given, and hostile objects refused without a
 * throw. The watch and the status writes against an API server are the
 * integration test's (test/integration/kubernetes/custom-resources.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../../../src/config/index.js';
import { ConfigStore } from '../../../../src/control-plane/config-push/index.js';
import type { Condition } from '../../../../src/control-plane/kubernetes/custom-resources/index.js';
import {
  readObject,
  type CustomObject,
  type KindName,
} from '../../../../src/control-plane/kubernetes/custom-resources/kinds.js';
import type { NodeAck } from '../../../../src/control-plane/kubernetes/custom-resources/programmed.js';
import {
  Reconciler,
  WITHDRAWN,
} from '../../../../src/control-plane/kubernetes/custom-resources/reconciler.js';
import { StatusWriter } from '../../../../src/control-plane/kubernetes/custom-resources/status-writer.js';
import {
  MAX_MESSAGE_CHARS,
  validateObject,
} from '../../../../src/control-plane/kubernetes/custom-resources/validate.js';
import { ConfigError } from '../../../../src/shared/errors.js';
import { createLogger } from '../../../../src/shared/log.js';

const FILE = [
  'proxy:',
  '  rtsp:',
  '    enabled: true',
  '    paths: { lobby: { source: publisher } }',
  '  routes:',
  '    - { name: file-route, listen: 127.0.0.1:6000, destinations: [{ address: 127.0.0.1:6100 }] }',
].join('\n');

let uids = 0;

interface ObjectOptions {
  readonly created?: string;
  readonly generation?: number;
  readonly uid?: string;
}

/** An object as the API server lists it. */
function raw(kind: KindName, name: string, spec: unknown, options: ObjectOptions = {}): unknown {
  uids += 1;
  return {
    apiVersion: 'streammesh.io/v1alpha1',
    kind,
    metadata: {
      name,
      namespace: 'mesh',
      uid: options.uid ?? `uid-${uids}`,
      generation: options.generation ?? 1,
      resourceVersion: String(100 + uids),
      creationTimestamp: options.created ?? '2026-01-01T00:00:00Z',
    },
    ...(spec === undefined ? {} : { spec }),
  };
}

const camera = (name: string, spec: unknown, options?: ObjectOptions): unknown =>
  raw('Camera', name, spec, options);
const route = (name: string, spec: unknown, options?: ObjectOptions): unknown =>
  raw('MediaRoute', name, spec, options);

function routeSpec(listen: string, destination = '127.0.0.1:7100'): unknown {
  return { listen, rtcpMux: true, destinations: [{ address: destination, rtcpMux: true }] };
}

/** A reconciler over a store of FILE, recording each object's last written conditions by name. */
function harness(file = FILE): {
  store: ConfigStore;
  reconciler: Reconciler;
  written: Map<string, readonly Condition[]>;
  nodes: NodeAck[];
  condition: (name: string, type: string) => Condition;
} {
  const store = new ConfigStore(parseConfigText(file, 'file'), 'file');
  const written = new Map<string, readonly Condition[]>();
  const nodes: NodeAck[] = [];
  const reconciler = new Reconciler({
    store,
    nodes: () => nodes,
    statuses: {
      write: (object, conditions) => written.set(`${object.kind}/${object.name}`, conditions),
      forget: () => undefined,
    },
    now: () => new Date('2026-01-02T03:04:05.678Z'),
  });
  store.on('change', (snapshot) => reconciler.served(snapshot.version));
  const condition = (name: string, type: string): Condition => {
    const found = written.get(name)?.find((item) => item.type === type);
    assert.ok(found !== undefined, `${name} has a ${type} condition`);
    return found;
  };
  return { store, reconciler, written, nodes, condition };
}

/** The source of a path of the served config (a function: each call reads the store anew). */
function sourceOf(store: ConfigStore, path: string): string | undefined {
  return store.current.config.proxy.rtsp.paths[path]?.source;
}

function objectOf(kind: KindName, item: unknown): CustomObject {
  const object = readObject(kind, item);
  assert.ok(object !== undefined);
  return object;
}

describe('a Camera', () => {
  it('valid: laid as proxy.rtsp.paths[path], Accepted, Programmed once every live proxy acked a version holding it', () => {
    const { store, reconciler, nodes, condition } = harness();
    reconciler.listed('Camera', [
      camera('door', { source: 'rtsp://10.0.0.9:554/stream', onDemand: false }),
    ]);
    reconciler.pass();
    assert.deepEqual(store.current.config.proxy.rtsp.paths['door'], {
      source: 'rtsp://10.0.0.9:554/stream',
      transport: 'auto',
      onDemand: false,
      lingerMs: 10_000,
    });
    assert.deepEqual(
      store.current.config.proxy.rtsp.paths['lobby'],
      store.base.proxy.rtsp.paths['lobby'],
    );
    const accepted = condition('Camera/door', 'Accepted');
    assert.equal(accepted.status, 'True');
    assert.equal(accepted.reason, 'Accepted');
    assert.equal(accepted.observedGeneration, 1);
    assert.equal(accepted.lastTransitionTime, '2026-01-02T03:04:05Z');
    assert.equal(condition('Camera/door', 'Programmed').reason, 'Pending', 'no proxy yet');

    const holding = store.current.version;
    nodes.push({ role: 'ROLE_PROXY', state: 'connected', ackedVersion: 'some-older-version' });
    nodes.push({ role: 'ROLE_SIGNALING', state: 'connected', ackedVersion: '' });
    nodes.push({ role: 'ROLE_PROXY', state: 'stale', ackedVersion: '' });
    assert.equal(reconciler.pass().pending, true);
    assert.equal(
      condition('Camera/door', 'Programmed').message,
      '0 of 1 live rtp-proxies acknowledged a config that holds it',
    );
    nodes[0] = { role: 'ROLE_PROXY', state: 'connected', ackedVersion: holding };
    assert.equal(reconciler.pass().pending, false);
    const programmed = condition('Camera/door', 'Programmed');
    assert.equal(programmed.status, 'True');
    assert.equal(programmed.reason, 'Programmed');
  });

  it('spec.path names the path; metadata.name is only the default', () => {
    const { store, reconciler } = harness();
    reconciler.listed('Camera', [
      camera('front-door', { source: 'publisher', path: 'site-a/front' }),
    ]);
    reconciler.pass();
    assert.equal(store.current.config.proxy.rtsp.paths['site-a/front']?.source, 'publisher');
    assert.equal(store.current.config.proxy.rtsp.paths['front-door'], undefined);
  });

  it('an invalid source: Accepted False/Invalid with the schema message, in no config', () => {
    const { store, reconciler, condition } = harness();
    const before = store.current.version;
    reconciler.listed('Camera', [
      camera('door', { source: 'http://x', lingerMs: -1, color: 'red' }),
    ]);
    reconciler.pass();
    const accepted = condition('Camera/door', 'Accepted');
    assert.equal(accepted.status, 'False');
    assert.equal(accepted.reason, 'Invalid');
    assert.match(accepted.message, /spec\.source: must be an rtsp:\/\/ URL, not http:\/\//);
    assert.match(accepted.message, /spec\.lingerMs: must be at least 0/);
    assert.match(accepted.message, /spec\.color: unknown field/);
    assert.doesNotMatch(accepted.message, /proxy\.rtsp/, 'the object path, not the config path');
    const programmed = condition('Camera/door', 'Programmed');
    assert.deepEqual([programmed.status, programmed.reason], ['False', 'Invalid']);
    assert.equal(store.current.version, before, 'nothing laid');
    assert.equal(store.current.config.proxy.rtsp.paths['door'], undefined);
  });

  it('two Cameras on one path: the older keeps it (creationTimestamp, then name), the other is Conflicted', () => {
    const { store, reconciler, condition } = harness();
    reconciler.listed('Camera', [
      camera(
        'c-newer',
        { source: 'rtsp://10.0.0.3/x', path: 'gate' },
        { created: '2026-01-01T00:00:09Z' },
      ),
      camera(
        'b-same-time',
        { source: 'rtsp://10.0.0.2/x', path: 'gate' },
        { created: '2026-01-01T00:00:05Z' },
      ),
      camera(
        'a-same-time',
        { source: 'rtsp://10.0.0.1/x', path: 'gate' },
        { created: '2026-01-01T00:00:05Z' },
      ),
    ]);
    reconciler.pass();
    assert.equal(store.current.config.proxy.rtsp.paths['gate']?.source, 'rtsp://10.0.0.1/x');
    assert.equal(condition('Camera/a-same-time', 'Accepted').status, 'True');
    for (const name of ['Camera/b-same-time', 'Camera/c-newer']) {
      const accepted = condition(name, 'Accepted');
      assert.equal(accepted.reason, 'Conflicted');
      assert.match(accepted.message, /path gate is also Camera a-same-time's/);
    }
  });

  it('a path of the file wins over a Camera of the same path', () => {
    const { store, reconciler, condition } = harness();
    reconciler.listed('Camera', [camera('lobby', { source: 'rtsp://10.0.0.1/x' })]);
    reconciler.pass();
    assert.equal(store.current.config.proxy.rtsp.paths['lobby']?.source, 'publisher');
    assert.equal(condition('Camera/lobby', 'Accepted').reason, 'Conflicted');
    assert.match(condition('Camera/lobby', 'Accepted').message, /config file/);
  });

  it('"demo" while the file serves the demo camera is Conflicted', () => {
    const { store, reconciler, condition } = harness();
    reconciler.listed('Camera', [camera('demo', { source: 'publisher' })]);
    reconciler.pass();
    assert.equal(condition('Camera/demo', 'Accepted').reason, 'Conflicted');
    assert.match(condition('Camera/demo', 'Accepted').message, /built-in demo camera/);
    assert.equal(store.current.config.proxy.rtsp.paths['demo'], undefined);
  });

  it('a refusal of the whole config is attributed to the objects its issue paths name', () => {
    // A rule of the whole config that no pre-check knows: here, a store
    // whose validation also refuses the path "forbidden" and the route on port 6666.
    const store = new ConfigStore(parseConfigText(FILE, 'file'), 'file');
    const written = new Map<string, readonly Condition[]>();
    const stricter = {
      get base() {
        return store.base;
      },
      setLayer: (name: string, layer: Parameters<ConfigStore['setLayer']>[1], origin: string) => {
        if (layer !== undefined) {
          const composed = layer(store.base);
          const index = composed.proxy.routes.findIndex((item) => item.listen.endsWith(':6666'));
          const issues = [
            ...(Object.hasOwn(composed.proxy.rtsp.paths, 'forbidden')
              ? [{ path: 'proxy.rtsp.paths.forbidden.source', reason: 'not here' }]
              : []),
            ...(index === -1 ? [] : [{ path: `proxy.routes[${index}].listen`, reason: 'taken' }]),
          ];
          if (issues.length > 0) throw new ConfigError(origin, issues);
        }
        return store.setLayer(name, layer, origin);
      },
    };
    const reconciler = new Reconciler({
      store: stricter,
      nodes: () => [],
      statuses: {
        write: (object, conditions) => written.set(object.name, conditions),
        forget: () => undefined,
      },
    });
    reconciler.listed('Camera', [
      camera('forbidden', { source: 'publisher' }),
      camera('allowed', { source: 'publisher' }),
    ]);
    reconciler.listed('MediaRoute', [
      route('r6666', routeSpec('127.0.0.1:6666')),
      route('r6668', routeSpec('127.0.0.1:6668')),
    ]);
    reconciler.pass();
    const accepted = (name: string): Condition | undefined =>
      written.get(name)?.find((item) => item.type === 'Accepted');
    assert.equal(accepted('forbidden')?.reason, 'Conflicted');
    assert.match(
      accepted('forbidden')?.message ?? '',
      /proxy\.rtsp\.paths\.forbidden\.source: not here/,
    );
    assert.equal(accepted('r6666')?.reason, 'Conflicted');
    assert.match(accepted('r6666')?.message ?? '', /proxy\.routes\[1\]\.listen: taken/);
    assert.equal(accepted('allowed')?.status, 'True');
    assert.equal(accepted('r6668')?.status, 'True');
    assert.deepEqual(Object.keys(store.current.config.proxy.rtsp.paths).sort(), [
      'allowed',
      'lobby',
    ]);
    assert.deepEqual(
      store.current.config.proxy.routes.map((item) => item.name),
      ['file-route', 'r6668'],
    );
  });

  it('a file edit that takes its path drops the Camera (the edit is not refused); the edit undone, it is back', () => {
    const { store, reconciler, condition } = harness();
    reconciler.listed('Camera', [camera('door', { source: 'rtsp://10.0.0.1/x' })]);
    reconciler.pass();
    const withDoor = FILE.replace(
      'lobby: { source: publisher }',
      'lobby: { source: publisher }, door: { source: publisher }',
    );
    assert.equal(store.set(parseConfigText(withDoor, 'file'), 'file'), true);
    assert.equal(sourceOf(store, 'door'), 'publisher', "the file's");
    reconciler.pass();
    assert.equal(condition('Camera/door', 'Accepted').reason, 'Conflicted');
    store.set(parseConfigText(FILE, 'file'), 'file');
    reconciler.pass();
    assert.equal(sourceOf(store, 'door'), 'rtsp://10.0.0.1/x');
    assert.equal(condition('Camera/door', 'Accepted').status, 'True');
  });

  it('a base the store refuses (set() throws) leaves the Camera served and Accepted: the refused composition is not taken for the served one', () => {
    const { store, reconciler, condition } = harness();
    reconciler.listed('Camera', [camera('door', { source: 'rtsp://10.0.0.1/x' })]);
    reconciler.pass();
    // A base whose own door path is invalid: the layer, run over it, leaves the Camera out
    // (the file wins), then the whole config is refused, and the last good one stays served.
    const base = store.base;
    const lobby = base.proxy.rtsp.paths['lobby'];
    assert.ok(lobby !== undefined);
    const bad = {
      ...base,
      proxy: {
        ...base.proxy,
        rtsp: {
          ...base.proxy.rtsp,
          paths: { ...base.proxy.rtsp.paths, door: { ...lobby, source: 'ftp://10.0.0.1/door' } },
        },
      },
    };
    assert.throws(() => store.set(bad, 'file'), ConfigError);
    assert.equal(sourceOf(store, 'door'), 'rtsp://10.0.0.1/x', 'still served');
    reconciler.pass();
    assert.equal(condition('Camera/door', 'Accepted').status, 'True');
    assert.equal(condition('Camera/door', 'Accepted').reason, 'Accepted');
  });

  it('edited to be invalid, it is withdrawn (the last good spec is not kept), and the status says so', () => {
    const { store, reconciler, condition } = harness();
    reconciler.listed('Camera', [camera('door', { source: 'publisher' }, { uid: 'door-uid' })]);
    reconciler.pass();
    assert.ok(store.current.config.proxy.rtsp.paths['door'] !== undefined);
    reconciler.upserted(
      'Camera',
      camera('door', { source: 'ftp://x' }, { uid: 'door-uid', generation: 2 }),
    );
    reconciler.pass();
    assert.equal(store.current.config.proxy.rtsp.paths['door'], undefined);
    const accepted = condition('Camera/door', 'Accepted');
    assert.equal(accepted.reason, 'Invalid');
    assert.equal(accepted.observedGeneration, 2);
    assert.ok(accepted.message.includes(WITHDRAWN), accepted.message);
  });

  it('deleted, its path leaves the layer (and with it the served config)', () => {
    const { store, reconciler } = harness();
    const door = camera('door', { source: 'publisher' });
    reconciler.listed('Camera', [door, camera('porch', { source: 'publisher' })]);
    reconciler.pass();
    reconciler.deleted('Camera', door);
    reconciler.pass();
    assert.equal(store.current.config.proxy.rtsp.paths['door'], undefined);
    assert.ok(store.current.config.proxy.rtsp.paths['porch'] !== undefined);
    reconciler.listed('Camera', []);
    reconciler.pass();
    assert.deepEqual(Object.keys(store.current.config.proxy.rtsp.paths), ['lobby']);
  });
});

describe('a MediaRoute', () => {
  it('valid: appended to proxy.routes under metadata.name', () => {
    const { store, reconciler, condition } = harness();
    reconciler.listed('MediaRoute', [route('cam-a', routeSpec('127.0.0.1:6002'))]);
    reconciler.pass();
    const routes = store.current.config.proxy.routes;
    assert.deepEqual(
      routes.map((item) => item.name),
      ['file-route', 'cam-a'],
    );
    assert.equal(routes[1]?.listen, '127.0.0.1:6002');
    assert.equal(condition('MediaRoute/cam-a', 'Accepted').status, 'True');
  });

  it('two on one listen address: the older is laid, the other Conflicted; the file wins over both', () => {
    const { store, reconciler, condition } = harness();
    reconciler.listed('MediaRoute', [
      route('second', routeSpec('127.0.0.1:6002'), { created: '2026-01-01T00:00:02Z' }),
      route('first', routeSpec('127.0.0.1:6002'), { created: '2026-01-01T00:00:01Z' }),
      route('on-file-listen', routeSpec('127.0.0.1:6000')),
      route('file-route', routeSpec('127.0.0.1:6004')),
    ]);
    reconciler.pass();
    assert.deepEqual(
      store.current.config.proxy.routes.map((item) => item.name),
      ['file-route', 'first'],
    );
    assert.match(
      condition('MediaRoute/second', 'Accepted').message,
      /listen 127\.0\.0\.1:6002 is also MediaRoute first's/,
    );
    assert.match(
      condition('MediaRoute/on-file-listen', 'Accepted').message,
      /route file-route's, in the config file/,
    );
    assert.match(
      condition('MediaRoute/file-route', 'Accepted').message,
      /route file-route is a route of the config file/,
    );
    for (const name of ['second', 'on-file-listen', 'file-route']) {
      assert.equal(condition(`MediaRoute/${name}`, 'Accepted').reason, 'Conflicted');
    }
  });

  it('invalid: spec.name, a bad address and a name that is no DNS label are named as the object has them', () => {
    const { reconciler, condition } = harness();
    reconciler.listed('MediaRoute', [
      route('named', { ...(routeSpec('127.0.0.1:6002') as object), name: 'x' }),
      route('bad-listen', routeSpec('not-an-address')),
      route('Not.A.Label', routeSpec('127.0.0.1:6004')),
      route('no-destinations', { listen: '127.0.0.1:6006', destinations: [] }),
    ]);
    reconciler.pass();
    assert.match(condition('MediaRoute/named', 'Accepted').message, /^spec\.name: unknown field/);
    assert.match(condition('MediaRoute/bad-listen', 'Accepted').message, /^spec\.listen: /);
    assert.match(
      condition('MediaRoute/Not.A.Label', 'Accepted').message,
      /^metadata\.name: must be a DNS label/,
    );
    assert.match(
      condition('MediaRoute/no-destinations', 'Accepted').message,
      /^spec\.destinations: must be at least 1/,
    );
  });
});

describe('a hostile object', () => {
  it('is Invalid, never a throw: spec a string, a list, missing, a 1 MB field, nested 100000 deep', () => {
    let deep: unknown = 'bottom';
    for (let level = 0; level < 100_000; level += 1) deep = { a: deep };
    const cases: [string, unknown, RegExp][] = [
      ['string', 'rtsp://x', /^spec: expected a mapping, got a string/],
      ['list', ['a'], /^spec: expected a mapping, got a list/],
      ['missing', undefined, /^spec: required/],
      ['huge', { source: 'rtsp://x/'.padEnd(1 << 20, 'a') }, /^spec: larger than/],
      ['deep', { source: deep }, /^spec: nested deeper than/],
      ['huge-key', { ['k'.repeat(1 << 20)]: 1 }, /^spec: larger than/],
      ['path-type', { source: 'publisher', path: { x: 1 } }, /^spec\.path: expected a string/],
    ];
    const { store, reconciler, condition } = harness();
    const before = store.current.version;
    reconciler.listed(
      'Camera',
      cases.map(([name, spec]) => camera(name, spec)),
    );
    reconciler.upserted('Camera', { metadata: 'not a mapping' });
    reconciler.upserted('Camera', null);
    reconciler.pass();
    for (const [name, , message] of cases) {
      const accepted = condition(`Camera/${name}`, 'Accepted');
      assert.equal(accepted.reason, 'Invalid', name);
      assert.match(accepted.message, message, name);
      assert.ok(accepted.message.length <= MAX_MESSAGE_CHARS, `${name}: the message is bounded`);
    }
    assert.equal(store.current.version, before);
  });

  it('a wrong type the schema describes yields a bounded message, however large the value', () => {
    const result = validateObject(
      objectOf('Camera', camera('door', { source: 'publisher', lingerMs: 'x'.repeat(60_000) })),
    );
    if (result.ok) assert.fail('refused');
    assert.ok(result.message.length <= MAX_MESSAGE_CHARS);
    assert.ok(result.message.startsWith('spec.lingerMs: expected a number'), result.message);
  });
});

describe('StatusWriter', () => {
  it('writes only what the object does not hold yet, one write at a time', async () => {
    const patched: { resourceVersion: string; conditions: readonly Condition[] }[] = [];
    let version = 500;
    const writer = new StatusWriter(
      (object, conditions) => {
        patched.push({ resourceVersion: object.resourceVersion, conditions });
        version += 1;
        return Promise.resolve(String(version));
      },
      createLogger('test', 'silent'),
      () => undefined,
    );
    const accepted: Condition = {
      type: 'Accepted',
      status: 'True',
      reason: 'Accepted',
      message: 'ok',
      observedGeneration: 1,
      lastTransitionTime: '2026-01-01T00:00:00Z',
    };
    const conditions = [accepted];
    const door = objectOf('Camera', camera('door', { source: 'publisher' }, { uid: 'u' }));
    writer.write(door, conditions);
    writer.write(door, conditions);
    await new Promise((resolve) => setImmediate(resolve));
    writer.write(door, [{ ...accepted, lastTransitionTime: '2026-01-01T00:00:09Z' }]);
    assert.equal(patched.length, 1, 'the same conditions (but for the time) are written once');
    assert.equal(
      patched[0]?.resourceVersion,
      door.resourceVersion,
      'with the judged resourceVersion',
    );
    // The watch echoes the write: the object now holds them.
    const echoed = { ...door, resourceVersion: '501', conditions };
    writer.write(echoed, conditions);
    assert.equal(patched.length, 1);
    writer.write(echoed, [{ ...accepted, status: 'False', reason: 'Invalid' }]);
    assert.equal(patched.length, 2, 'a change is written');
  });

  it('a failed write is reported, and written again on the next pass', async () => {
    let failures = 0;
    let calls = 0;
    const writer = new StatusWriter(
      () => {
        calls += 1;
        return calls === 1
          ? Promise.reject(Object.assign(new Error('conflict'), { code: 409 }))
          : Promise.resolve('9');
      },
      createLogger('test', 'silent'),
      () => {
        failures += 1;
      },
    );
    const door = objectOf('Camera', camera('door', { source: 'publisher' }));
    const conditions: Condition[] = [
      {
        type: 'Accepted',
        status: 'True',
        reason: 'Accepted',
        message: 'ok',
        observedGeneration: 1,
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
    ];
    writer.write(door, conditions);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(failures, 1);
    writer.write(door, conditions);
    assert.equal(calls, 2);
  });
});
