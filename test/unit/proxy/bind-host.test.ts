import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withBindHost } from '../../../rtp-proxy/bind-host.js';
import { validateConfig } from '../../../src/config/index.js';

describe('withBindHost', () => {
  const config = validateConfig(
    {
      proxy: {
        admin: '127.0.0.1:15102',
        routes: [
          {
            name: 'cam',
            listen: '127.0.0.1:5004',
            kind: 'video',
            clockRate: 90000,
            destinations: [{ address: '127.0.0.1:5006' }],
          },
        ],
        rtsp: { listen: '0.0.0.0:8554' },
        http: { listeners: [{ name: 'edge', listen: '127.0.0.1:15001' }] },
      },
    },
    'test',
  );

  it('puts every proxy listen address on the host, keeping its port; destinations stay', () => {
    const local = withBindHost(config, '127.0.0.12');
    assert.equal(local.proxy.admin, '127.0.0.12:15102');
    assert.equal(local.proxy.mediaAddress, '127.0.0.12');
    assert.equal(local.proxy.rtsp.listen, '127.0.0.12:8554');
    assert.deepEqual(
      local.proxy.routes.map((route) => [route.listen, route.destinations.map((d) => d.address)]),
      [['127.0.0.12:5004', ['127.0.0.1:5006']]],
    );
    assert.equal(local.proxy.http.listeners[0]?.listen, '127.0.0.12:15001');
    // The control plane's and signaling's addresses are not the proxy's.
    assert.equal(local.controlPlane.admin, config.controlPlane.admin);
    assert.equal(local.signaling.listen, config.signaling.listen);
  });

  it('leaves the config alone without a bind host', () => {
    assert.equal(withBindHost(config, undefined), config);
  });
});
