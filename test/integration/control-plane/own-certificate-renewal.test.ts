/**
 * The control plane renews its own gRPC certificate at half its lifetime
 * without a restart and without dropping a connection: with a 2 s lifetime
 * (below the config's floor, to watch it happen), a TLS client connecting
 * later sees a new certificate (another serial, verifying against the
 * bundle), while a node's resource stream opened before the renewals stays
 * open and keeps being served.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import type { ResourceUpdate } from '../../../src/protocol/mesh/index.js';
import { getJson } from '../../helpers/http.js';
import {
  certified,
  controlClient,
  proxyId,
  startSecurePlane,
  type SecurePlane,
} from './mtls-harness.js';

const LIFETIME_SEC = 2;

/** The serial of the certificate the control plane presents now (verified against the bundle). */
function presentedSerial(secure: SecurePlane): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port: secure.plane.grpc.port,
      ca: secure.bundle,
      ALPNProtocols: ['h2'],
      // The chain is verified; the name is a SPIFFE ID (checked in mtls-register.test.ts).
      checkServerIdentity: () => undefined,
    });
    socket.once('secureConnect', () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe("the control plane's own certificate", () => {
  let secure: SecurePlane;

  before(async () => {
    secure = await startSecurePlane({ leafLifetimeSec: LIFETIME_SEC });
  });
  after(async () => {
    await secure.close();
  });

  it('is renewed at half-life for new connections while an open stream stays', async () => {
    const node = await certified(secure, proxyId(), 'proxy-a');
    const client = controlClient(secure, node);
    const errors: unknown[] = [];
    let updates = 0;
    try {
      await new Promise<void>((resolve, reject) => {
        client.register(
          {
            identity: { id: 'proxy-a', node: 'test', role: 'ROLE_PROXY' },
            capabilities: ['rtp'],
            listenAddresses: {},
            currentVersion: '',
          },
          { deadline: Date.now() + 5_000 },
          (error) => (error === null ? resolve() : reject(error)),
        );
      });
      const stream = client.streamResources();
      stream.on('error', (error: unknown) => errors.push(error));
      stream.on('end', () => errors.push(new Error('the stream ended')));
      stream.on('data', (_update: ResourceUpdate) => (updates += 1));
      stream.write({ hello: { id: 'proxy-a', systemVersion: '', resources: [], placements: [] } });
      const heartbeat = setInterval(
        () => stream.write({ heartbeat: { sentAtMs: Date.now() } }),
        100,
      );
      try {
        const first = await presentedSerial(secure);
        const serials = new Set([first]);
        // Two renewals at least: 1 s apart with a 2 s lifetime.
        const deadline = Date.now() + 4 * LIFETIME_SEC * 1000;
        while (serials.size < 3 && Date.now() < deadline) {
          await delay(200);
          serials.add(await presentedSerial(secure));
        }
        assert.ok(serials.size >= 3, `serials seen: ${[...serials].join(', ')}`);
        assert.deepEqual(errors, [], 'the open stream was not dropped');
        assert.ok(updates >= 1, 'the stream had its first update');
        const nodes = await getJson<{ nodes: { id: string; state: string }[] }>(
          `${secure.adminUrl}/nodes`,
        );
        assert.equal(nodes.body.nodes.find((entry) => entry.id === 'proxy-a')?.state, 'connected');
      } finally {
        clearInterval(heartbeat);
        stream.cancel();
      }
    } finally {
      client.close();
    }
  });
});
