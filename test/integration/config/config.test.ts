import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  defaultConfig,
  environmentOverrides,
  parseConfigText,
  rangeEnvironmentOverrides,
  integerEnvironmentOverrides,
} from '../../../src/config/index.js';
import { repoRoot, runStreammesh } from '../../helpers/process.js';

describe('config', () => {
  it('the defaults alone give a loopback mesh', () => {
    const config = defaultConfig({});
    assert.equal(config.controlPlane.admin, '127.0.0.1:15100');
    assert.equal(config.controlPlane.grpc, '127.0.0.1:15101');
    assert.equal(config.proxy.admin, '127.0.0.1:15102');
    assert.equal(config.signaling.admin, '127.0.0.1:15103');
    assert.equal(config.proxy.mediaAddress, '127.0.0.1');
    assert.deepEqual(config.proxy.rtpPorts, { start: 30000, end: 39999 });
  });

  it('STREAMMESH_* variables override the file', () => {
    const config = parseConfigText('logLevel: warn\nproxy:\n  admin: 127.0.0.1:1000\n', 'f.yaml', {
      STREAMMESH_LOG_LEVEL: 'debug',
      STREAMMESH_PROXY_ADMIN: '[::1]:2000',
      STREAMMESH_CONTROL_PLANE: 'cp.mesh.svc:15101',
    });
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.proxy.admin, '[::1]:2000');
    assert.equal(config.controlPlane.address, 'cp.mesh.svc:15101');
  });

  it('every documented environment variable maps to a field of the schema', () => {
    // A valid value of each kind of setting; host:port unless the name says otherwise.
    const special: Readonly<Record<string, string>> = {
      STREAMMESH_LOG_LEVEL: 'warn',
      STREAMMESH_CONTROL_PLANE_REGISTRY: 'kubernetes',
      STREAMMESH_PROXY_UDP_IO: 'dgram',
      STREAMMESH_PROXY_SRTP_ENGINE: 'node',
      STREAMMESH_SIGNALING_PUBLIC_URL: 'https://sfu-0.example.net/',
    };
    for (const [variable, path] of Object.entries(environmentOverrides)) {
      const value =
        special[variable] ??
        (variable.endsWith('_ID')
          ? 'n1'
          : variable.endsWith('_ADDRESS') || variable.endsWith('_HOST')
            ? '10.0.0.1'
            : '127.0.0.1:1');
      const config = defaultConfig({ [variable]: value }) as unknown as Record<string, unknown>;
      const set = path.reduce<unknown>(
        (node, key) => (node as Record<string, unknown>)[key],
        config,
      );
      assert.equal(set, value, variable);
    }
  });

  it('port ranges move with STREAMMESH_PROXY_RTP_PORTS and STREAMMESH_SIGNALING_RTC_PORTS', () => {
    const config = defaultConfig({
      STREAMMESH_PROXY_RTP_PORTS: '40000-40999',
      STREAMMESH_SIGNALING_RTC_PORTS: '41000-41999',
    });
    assert.deepEqual(config.proxy.rtpPorts, { start: 40000, end: 40999 });
    assert.deepEqual(config.signaling.rtcPorts, { start: 41000, end: 41999 });
    assert.deepEqual(Object.keys(rangeEnvironmentOverrides).sort(), [
      'STREAMMESH_PROXY_RTP_PORTS',
      'STREAMMESH_SIGNALING_RTC_PORTS',
    ]);
    assert.throws(
      () => defaultConfig({ STREAMMESH_PROXY_RTP_PORTS: '40000:40999' }),
      /STREAMMESH_PROXY_RTP_PORTS: proxy\.rtpPorts: must be START-END/,
    );
    // The range is validated like one from the file: an odd start is refused, naming the variable.
    assert.throws(
      () => defaultConfig({ STREAMMESH_PROXY_RTP_PORTS: '40001-40999' }),
      /proxy\.rtpPorts \(from STREAMMESH_PROXY_RTP_PORTS\): start must be even/,
    );
  });

  it('the data-plane worker count comes from STREAMMESH_PROXY_WORKERS, a whole number', () => {
    assert.equal(defaultConfig({}).proxy.workers, undefined);
    assert.equal(defaultConfig({ STREAMMESH_PROXY_WORKERS: '2' }).proxy.workers, 2);
    assert.deepEqual(Object.keys(integerEnvironmentOverrides), ['STREAMMESH_PROXY_WORKERS']);
    assert.throws(
      () => defaultConfig({ STREAMMESH_PROXY_WORKERS: 'two' }),
      /STREAMMESH_PROXY_WORKERS: proxy\.workers: must be a whole number/,
    );
    assert.throws(
      () => defaultConfig({ STREAMMESH_PROXY_WORKERS: '0' }),
      /proxy\.workers \(from STREAMMESH_PROXY_WORKERS\)/,
    );
  });

  it('`config schema` prints a JSON Schema of every section', async () => {
    const result = await runStreammesh(['config', 'schema']);
    assert.equal(result.code, 0);
    const schema = JSON.parse(result.stdout) as {
      properties: Record<string, { properties?: Record<string, unknown> }>;
    };
    assert.deepEqual(Object.keys(schema.properties).sort(), [
      'controlPlane',
      'logLevel',
      'proxy',
      'signaling',
    ]);
    assert.ok(schema.properties['proxy']?.properties?.['rtpPorts']);
  });

  it('every file in examples/ is a valid config', async () => {
    const examples = readdirSync(join(repoRoot, 'examples')).filter((name) =>
      /\.ya?ml$/.test(name),
    );
    assert.ok(examples.length > 0);
    for (const example of examples) {
      const result = await runStreammesh(['config', 'validate', join('examples', example)]);
      assert.equal(result.code, 0, `${example}: ${result.stderr}`);
    }
  });
});
