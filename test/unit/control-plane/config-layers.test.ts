import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/shared/errors.js';
import { validateConfig, type MeshConfig } from '../../../src/config/index.js';
import { ConfigStore, type ConfigLayer } from '../../../src/control-plane/config-push/index.js';

const base = validateConfig(
  { proxy: { rtsp: { paths: { lobby: { source: 'publisher' } } } } },
  'test',
);
const lobby = base.proxy.rtsp.paths['lobby'] ?? assert.fail('the base has no lobby path');

/** A layer that adds one RTSP path, as the Camera resources do. */
function pathLayer(name: string, source: string): ConfigLayer {
  return (config: MeshConfig) => ({
    ...config,
    proxy: {
      ...config.proxy,
      rtsp: {
        ...config.proxy.rtsp,
        paths: {
          ...config.proxy.rtsp.paths,
          [name]: { ...lobby, source },
        },
      },
    },
  });
}

describe('ConfigStore layers', () => {
  it('serves the base with every layer laid over it, again after the base changes', () => {
    const store = new ConfigStore(base, 'file');
    assert.equal(
      store.setLayer('cameras', pathLayer('door', 'rtsp://10.0.0.5/door'), 'Camera door'),
      true,
    );
    assert.deepEqual(Object.keys(store.current.config.proxy.rtsp.paths).sort(), ['door', 'lobby']);
    assert.deepEqual(Object.keys(store.base.proxy.rtsp.paths), ['lobby']);
    const edited = validateConfig({ logLevel: 'debug' }, 'file');
    assert.equal(store.set(edited, 'file'), true);
    assert.deepEqual(Object.keys(store.current.config.proxy.rtsp.paths), ['door']);
    assert.equal(store.current.config.logLevel, 'debug');
  });

  it('refuses a layer that makes the config invalid, naming the field, and keeps serving the last good one', () => {
    const store = new ConfigStore(base, 'file');
    const version = store.current.version;
    const bad: ConfigLayer = (config) => ({
      ...config,
      proxy: {
        ...config.proxy,
        rtsp: { ...config.proxy.rtsp, paths: { 'bad name!': lobby } },
      },
    });
    assert.throws(
      () => store.setLayer('cameras', bad, 'Camera bad'),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.issues.some((issue) => issue.path.startsWith('proxy.rtsp.paths')),
    );
    assert.equal(store.current.version, version);
    // The refused layer is not kept: a later base change does not fail on it.
    assert.equal(store.set(validateConfig({ logLevel: 'warn' }, 'file'), 'file'), true);
  });

  it('refuses a base that a layer no longer fits, and removing the layer takes its additions away', () => {
    const store = new ConfigStore(base, 'file');
    const listen: ConfigLayer = (config) => ({
      ...config,
      proxy: {
        ...config.proxy,
        routes: [
          ...config.proxy.routes,
          ...validateConfig(
            {
              proxy: {
                routes: [
                  {
                    name: 'cam',
                    listen: '127.0.0.1:40000',
                    destinations: [{ address: '127.0.0.1:40010' }],
                  },
                ],
              },
            },
            'test',
          ).proxy.routes,
        ],
      },
    });
    store.setLayer('routes', listen, 'MediaRoute cam');
    const clashing = validateConfig(
      {
        proxy: {
          routes: [
            {
              name: 'file-route',
              listen: '127.0.0.1:40000',
              destinations: [{ address: '127.0.0.1:40020' }],
            },
          ],
        },
      },
      'file',
    );
    assert.throws(() => store.set(clashing, 'file'), ConfigError);
    assert.deepEqual(
      store.current.config.proxy.routes.map((route) => route.name),
      ['cam'],
    );
    assert.equal(store.setLayer('routes', undefined, 'MediaRoute cam deleted'), true);
    assert.deepEqual(store.current.config.proxy.routes, []);
  });
});
