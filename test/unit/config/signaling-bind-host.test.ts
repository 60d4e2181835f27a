/**
 * signaling.bindHost: several signaling nodes share one config, each
 * listening on its own address. The bind host is node-local: it applies to
 * the node's own config (file, defaults, environment), never to a snapshot
 * the control plane pushes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  defaultConfig,
  loadConfigFile,
  parseConfigText,
  validateConfig,
  withSignalingBindHost,
} from '../../../src/config/load.js';
import { ConfigError } from '../../../src/shared/errors.js';

const HOST = '127.0.0.21';

const document = {
  controlPlane: { admin: '127.0.0.1:18500' },
  proxy: { admin: '127.0.0.1:18502' },
  signaling: {
    admin: '127.0.0.1:18503',
    listen: '0.0.0.0:18443',
    cascade: { listen: '127.0.0.1:18444' },
    rtcListenIp: '127.0.0.1',
    announcedAddress: 'sfu.example.com',
    publicUrl: 'https://sfu.example.com',
  },
};
const yaml = JSON.stringify(document);

/** The addresses bindHost moves, and the ones it must leave alone. */
function addresses(config: ReturnType<typeof validateConfig>): Record<string, unknown> {
  const { signaling } = config;
  return {
    admin: signaling.admin,
    listen: signaling.listen,
    cascade: signaling.cascade.listen,
    rtcListenIp: signaling.rtcListenIp,
    announcedAddress: signaling.announcedAddress,
    publicUrl: signaling.publicUrl,
    controlPlane: config.controlPlane.admin,
    proxy: config.proxy.admin,
  };
}

const onHost = {
  admin: `${HOST}:18503`,
  listen: `${HOST}:18443`,
  cascade: `${HOST}:18444`,
  rtcListenIp: HOST,
  // What others dial, and other roles' listeners, are not the node's listen addresses.
  announcedAddress: 'sfu.example.com',
  publicUrl: 'https://sfu.example.com',
  controlPlane: '127.0.0.1:18500',
  proxy: '127.0.0.1:18502',
};

describe('signaling.bindHost', () => {
  it('puts every signaling listen address of a config file on the host, keeping its port', () => {
    const config = parseConfigText(
      JSON.stringify({ ...document, signaling: { ...document.signaling, bindHost: HOST } }),
      'mesh.yaml',
    );
    assert.deepEqual(addresses(config), onHost);
    assert.equal(config.signaling.bindHost, HOST);
  });

  it('STREAMMESH_SIGNALING_BIND_HOST sets it, through the file loader (its worker thread) too', async () => {
    const env = { STREAMMESH_SIGNALING_BIND_HOST: HOST };
    assert.deepEqual(addresses(parseConfigText(yaml, 'mesh.yaml', env)), onHost);
    const file = join(mkdtempSync(join(tmpdir(), 'streammesh-bind-host-')), 'mesh.yaml');
    writeFileSync(file, yaml);
    assert.deepEqual(addresses(await loadConfigFile(file, env)), onHost);
    // The same file without the variable: as written.
    assert.equal((await loadConfigFile(file, {})).signaling.listen, '0.0.0.0:18443');
  });

  it('applies to the embedded defaults, and brackets an IPv6 host', () => {
    const plain = defaultConfig({});
    const local = defaultConfig({ STREAMMESH_SIGNALING_BIND_HOST: '::1' });
    const port = (address: string): string => address.slice(address.lastIndexOf(':'));
    assert.equal(local.signaling.listen, `[::1]${port(plain.signaling.listen)}`);
    assert.equal(local.signaling.admin, `[::1]${port(plain.signaling.admin)}`);
    assert.equal(local.signaling.cascade.listen, `[::1]${port(plain.signaling.cascade.listen)}`);
    assert.equal(local.signaling.rtcListenIp, '::1');
  });

  it('does not apply to a pushed snapshot (validateConfig): the node applies its own', () => {
    const pushed = validateConfig(
      { ...document, signaling: { ...document.signaling, bindHost: '127.0.0.99' } },
      'pushed',
    );
    assert.equal(pushed.signaling.listen, '0.0.0.0:18443');
    assert.equal(pushed.signaling.rtcListenIp, '127.0.0.1');
    // The node localizes it with its own bind host, not the one in the snapshot.
    assert.deepEqual(addresses(withSignalingBindHost(pushed, HOST)), onHost);
  });

  it('leaves the config alone without a host', () => {
    const config = validateConfig(document, 'test');
    assert.equal(withSignalingBindHost(config, undefined), config);
    assert.deepEqual(addresses(parseConfigText(yaml, 'mesh.yaml')), addresses(config));
  });

  it('refuses listeners that meet on the host, naming the field and the variable', () => {
    const listeners = { admin: '0.0.0.0:18443', listen: '127.0.0.1:18443' };
    const clash = JSON.stringify({ signaling: listeners });
    // As written they differ: the file alone is valid.
    assert.equal(parseConfigText(clash, 'mesh.yaml').signaling.admin, '0.0.0.0:18443');
    assert.throws(
      () => parseConfigText(clash, 'mesh.yaml', { STREAMMESH_SIGNALING_BIND_HOST: HOST }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(error.issues, [
          {
            path: 'signaling.listen (from STREAMMESH_SIGNALING_BIND_HOST)',
            reason: `${HOST}:18443 is already used by signaling.admin`,
          },
        ]);
        return true;
      },
    );
    assert.throws(
      () =>
        parseConfigText(
          JSON.stringify({ signaling: { ...listeners, bindHost: HOST } }),
          'mesh.yaml',
        ),
      /signaling\.listen \(from signaling\.bindHost\): 127\.0\.0\.21:18443 is already used/,
    );
  });

  it('a bind host that is not an IP address is refused, naming the variable', () => {
    assert.throws(
      () => defaultConfig({ STREAMMESH_SIGNALING_BIND_HOST: 'sfu-a' }),
      /signaling\.bindHost \(from STREAMMESH_SIGNALING_BIND_HOST\): must be an IPv4 or IPv6 address/,
    );
  });
});
