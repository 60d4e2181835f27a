/**
 * A node's workload identity against the real control plane (mTLS on, its
 * own CA in a temporary directory, certificates of 60 s). The node's SPIFFE
 * ID takes the namespace of proxy.identity and the service account of its
 * own proxy.instances entry, as `streammesh up` runs it. The node starts
 * first, as in `streammesh up`, and is not ready while the trust bundle the
 * control plane writes is missing, saying so; once the control plane is up
 * it gets its certificate with the bootstrap token, registers over mutual
 * TLS under its SPIFFE ID and acknowledges the config. At half the lifetime
 * (~30 s) it renews with a new key and a new certificate while its resource
 * stream stays up (no reconnect, no new Register), and a config pushed after
 * the renewal is acknowledged on that same stream.
 */
import assert from 'node:assert/strict';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/index.js';
import { parseConfigText, type MeshConfig } from '../../../src/config/index.js';
import { MeshNode } from '../../../src/node-agent/index.js';
import { httpUrl } from '../../../src/shared/address.js';
import { AdminCredentials } from '../../../src/shared/admin/index.js';
import type { WorkloadCertificates } from '../../../src/shared/identity/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { newAdminToken } from '../../helpers/admin-token.js';
import { getJson, putText } from '../../helpers/http.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';

const TRUST_DOMAIN = 'mesh.test';
const NODE_ID = 'proxy-renewing';
const SPIFFE_ID = `spiffe://${TRUST_DOMAIN}/ns/cameras/sa/camera-proxy`;
const LIFETIME_SEC = 60;

interface NodeView {
  id: string;
  spiffeId: string | null;
  registeredAt: string;
  ackedVersion: string;
}

function configText(dir: string, grpcPort: number, logLevel = 'silent'): string {
  return [
    `logLevel: ${logLevel}`,
    'controlPlane:',
    '  admin: 127.0.0.1:0',
    `  grpc: 127.0.0.1:${grpcPort}`,
    '  heartbeatIntervalMs: 200',
    `  trustDomain: ${TRUST_DOMAIN}`,
    `  adminTokenFile: ${join(dir, 'state', 'admin-token')}`,
    `  bootstrapTokenFile: ${join(dir, 'state', 'bootstrap-token')}`,
    `  ca: { dir: ${join(dir, 'ca')}, leafLifetimeSec: ${LIFETIME_SEC} }`,
    'proxy:',
    `  id: ${NODE_ID}`,
    '  admin: 127.0.0.1:0',
    // The shared identity's namespace, and this instance's own service account.
    '  identity: { namespace: cameras }',
    `  instances: [{ id: ${NODE_ID}, host: 127.0.0.1, serviceAccount: camera-proxy }]`,
  ].join('\n');
}

function serial(certificates: WorkloadCertificates): string {
  return new X509Certificate(certificates.certificatePem).serialNumber;
}

function publicKeyOf(certificates: WorkloadCertificates): string {
  return createPublicKey(certificates.privateKeyPem).export({
    type: 'spki',
    format: 'pem',
  }) as string;
}

async function sample(node: MeshNode, name: string): Promise<number> {
  const metric = await node.metrics.getSingleMetric(name)?.get();
  return metric?.values.reduce((sum, value) => sum + value.value, 0) ?? 0;
}

describe('a node workload identity against the real control plane', () => {
  let dir: string;
  let grpcPort: number;
  let config: MeshConfig;
  let plane: RunningControlPlane | undefined;
  let node: MeshNode | undefined;
  const adminToken = newAdminToken();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'workload-identity-'));
    grpcPort = await freePort();
    config = parseConfigText(configText(dir, grpcPort), 'node start-up');
  });

  after(async () => {
    await node?.close();
    await plane?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const adminUrl = (): string => {
    assert.ok(plane !== undefined);
    return httpUrl(plane.admin);
  };

  async function nodeView(): Promise<NodeView | undefined> {
    const { body } = await getJson<{ nodes: NodeView[] }>(`${adminUrl()}/nodes`);
    return body.nodes.find((view) => view.id === NODE_ID);
  }

  async function waitAcked(version: string): Promise<NodeView> {
    return await waitFor(
      async () => {
        const view = await nodeView();
        return view?.ackedVersion === version ? view : undefined;
      },
      10_000,
      () => `${NODE_ID} to acknowledge ${version}`,
    );
  }

  it('waits, not ready, for the trust bundle; then gets its certificate and registers over mTLS', async () => {
    node = new MeshNode({
      role: 'ROLE_PROXY',
      roleName: 'proxy',
      config,
      section: config.proxy,
      capabilities: [],
      log: createLogger('proxy', 'silent'),
    });
    await node.start();
    const readyz = await getJson<{ ready: boolean; reason: string }>(
      `${httpUrl(node.adminAddress)}/readyz`,
    );
    assert.equal(readyz.status, 503);
    assert.match(readyz.body.reason, /no workload certificate yet: waiting for the trust bundle/);
    assert.ok(readyz.body.reason.includes(join(dir, 'ca', 'bundle.pem')));
    assert.equal(node.identity?.current(), undefined);

    plane = await startControlPlane({
      config,
      env: { XDG_STATE_HOME: join(dir, 'xdg') },
      log: createLogger('control-plane', 'silent'),
      credentials: AdminCredentials.ofToken(adminToken),
    });
    const version = (await getJson<{ version: string }>(`${adminUrl()}/config`)).body.version;
    const view = await waitAcked(version);
    assert.equal(view.spiffeId, SPIFFE_ID, 'registered under the certificate it was given');
    const certificates = node.identity?.current();
    assert.ok(certificates !== undefined);
    assert.equal(certificates.spiffeId, SPIFFE_ID);
    const leaf = new X509Certificate(certificates.certificatePem);
    assert.equal(leaf.subjectAltName, `URI:${SPIFFE_ID}`);
    assert.ok(leaf.subject.split('\n').includes(`CN=${NODE_ID}`));
    assert.equal((await getJson(`${httpUrl(node.adminAddress)}/readyz`)).status, 200);
  });

  it(
    'renews at half its lifetime with a new key while the resource stream stays up',
    { timeout: 90_000 },
    async () => {
      assert.ok(node !== undefined);
      const identity = node.identity;
      assert.ok(identity !== undefined);
      const first = identity.current();
      assert.ok(first !== undefined);
      const registeredAt = (await nodeView())?.registeredAt;
      const reconnects = await sample(node, 'streammesh_node_control_plane_reconnects_total');
      assert.equal(await sample(node, 'streammesh_node_control_plane_connected'), 1);

      const renewed = await new Promise<{ at: number; certificates: WorkloadCertificates }>(
        (resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error('no renewal within the lifetime')),
            first.notAfterMs - Date.now(),
          );
          identity.on('renewed', (certificates) => {
            clearTimeout(timer);
            resolve({ at: Date.now(), certificates });
          });
        },
      );
      const second = renewed.certificates;
      // Issued at notAfter - lifetime: half of it is notAfter - lifetime / 2.
      const due = first.notAfterMs - (LIFETIME_SEC * 1000) / 2;
      assert.ok(
        Math.abs(renewed.at - due) < 3_000,
        `renewed ${renewed.at - due} ms from half the lifetime`,
      );
      assert.notEqual(serial(second), serial(first), 'a new certificate');
      assert.notEqual(publicKeyOf(second), publicKeyOf(first), 'for a new key');
      assert.ok(second.notAfterMs > first.notAfterMs);
      assert.equal(identity.current(), second);

      // The stream the first certificate opened is the one still in use.
      assert.equal(await sample(node, 'streammesh_node_control_plane_connected'), 1);
      assert.equal(
        await sample(node, 'streammesh_node_control_plane_reconnects_total'),
        reconnects,
        'no reconnect',
      );
      assert.equal((await nodeView())?.registeredAt, registeredAt, 'no new Register');

      // A config pushed after the renewal is acknowledged on that stream.
      const put = await putText<{ version: string; changed: boolean }>(
        `${adminUrl()}/config`,
        configText(dir, grpcPort, 'error'),
        adminToken,
      );
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal(put.body.changed, true);
      await waitAcked(put.body.version);
      assert.equal(node.applied?.version, put.body.version);
      assert.equal(
        await sample(node, 'streammesh_node_control_plane_reconnects_total'),
        reconnects,
        'still no reconnect',
      );
      assert.equal((await nodeView())?.registeredAt, registeredAt);
    },
  );
});
