/**
 * GET /nodes keeps each node's last error (issue 15, "errors that stay"): a
 * proxy that NACKs a pushed config (its L7 listener address is taken) shows
 * the refusal as lastError with its time; a later config the proxy ACKs
 * marks it resolved and keeps it. Real parts: the control plane and a
 * proxy in this process over gRPC, a TCP server squatting the address.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startProxy, type RunningProxy } from '../../../rtp-proxy/index.js';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/index.js';
import { validateConfig, type MeshConfigInput } from '../../../src/config/index.js';
import { formatHostPort, httpUrl } from '../../../src/shared/address.js';
import { AdminCredentials } from '../../../src/shared/admin/index.js';
import type { LastError } from '../../../src/shared/last-error.js';
import { createLogger } from '../../../src/shared/log.js';
import { newAdminToken } from '../../helpers/admin-token.js';
import { getJson, putText } from '../../helpers/http.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';

interface NodeBody {
  readonly role: string;
  readonly ackedVersion: string;
  readonly lastNack?: { readonly version: string; readonly reason: string; readonly at: string };
  readonly lastError: LastError | null;
}

describe('a node that NACKed a config, in GET /nodes', () => {
  const log = createLogger('test', 'silent');
  const adminToken = newAdminToken();
  let plane: RunningControlPlane;
  let proxy: RunningProxy;
  let squatter: Server;
  let takenPort: number;
  let meshInput: MeshConfigInput;

  const proxyNode = async (): Promise<NodeBody | undefined> => {
    const nodes = await getJson<{ nodes: NodeBody[] }>(`${httpUrl(plane.admin)}/nodes`);
    return nodes.body.nodes.find((node) => node.role === 'ROLE_PROXY');
  };
  const push = async (input: MeshConfigInput): Promise<string> => {
    const put = await putText<{ version: string }>(
      `${httpUrl(plane.admin)}/config`,
      JSON.stringify(input),
      adminToken,
    );
    assert.equal(put.status, 200);
    return put.body.version;
  };

  before(async () => {
    takenPort = await freePort();
    squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(takenPort, '127.0.0.1', resolve));
    meshInput = {
      controlPlane: { admin: '127.0.0.1:0', grpc: '127.0.0.1:0', heartbeatIntervalMs: 200 },
      proxy: {
        admin: '127.0.0.1:0',
        mediaAddress: '127.0.0.1',
        rtsp: { listen: '127.0.0.1:0', demo: false },
      },
      signaling: { admin: '127.0.0.1:0', listen: '127.0.0.1:0' },
    };
    plane = await startControlPlane({
      config: validateConfig(meshInput, 'test'),
      log,
      credentials: AdminCredentials.ofToken(adminToken),
    });
    const nodeConfig = validateConfig(
      {
        ...meshInput,
        controlPlane: { ...meshInput.controlPlane, grpc: formatHostPort(plane.grpc) },
      },
      'proxy',
    );
    proxy = await startProxy(nodeConfig, log);
    await waitFor(
      async () => {
        const acked = (await proxyNode())?.ackedVersion;
        return acked === undefined || acked === '' ? undefined : true;
      },
      5_000,
      () => 'the proxy to ACK its first config',
    );
  });

  after(async () => {
    await proxy.close();
    await plane.close();
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
  });

  it('shows the NACK reason and time as lastError, kept and marked resolved after a later ACK', async () => {
    const before = await proxyNode();
    assert.equal(before?.lastError, null, 'no error before the refused config');

    const refused = structuredClone(meshInput);
    refused.proxy = {
      ...refused.proxy,
      http: { listeners: [{ name: 'web', listen: `127.0.0.1:${takenPort}` }] },
    };
    const pushedAt = Date.now();
    const refusedVersion = await push(refused);
    const nacked = await waitFor(
      async () => (await proxyNode())?.lastError ?? undefined,
      5_000,
      () => 'a lastError after the NACK',
    );
    assert.equal(nacked.code, 'ERR_CONFIG_NACKED');
    assert.match(nacked.message, new RegExp(`^config ${refusedVersion} refused: l7: .*EADDRINUSE`));
    assert.equal(nacked.resolvedAt, null);
    const at = Date.parse(nacked.at);
    assert.ok(at >= pushedAt - 1000 && at <= Date.now(), `lastError.at ${nacked.at}`);

    // The squatter leaves and the same listener is pushed again (a new
    // version, so it is sent): this time the proxy ACKs.
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    const accepted = structuredClone(refused);
    accepted.proxy = {
      ...accepted.proxy,
      http: { listeners: [{ name: 'web2', listen: `127.0.0.1:${takenPort}` }] },
    };
    const acceptedVersion = await push(accepted);
    const after = await waitFor(
      async () => {
        const node = await proxyNode();
        return node?.ackedVersion === acceptedVersion ? node : undefined;
      },
      5_000,
      () => `the proxy to ACK ${acceptedVersion}`,
    );
    assert.ok(after.lastError !== null, 'the error is kept after the ACK');
    assert.equal(after.lastError.message, nacked.message);
    assert.equal(after.lastError.at, nacked.at);
    assert.ok(after.lastError.resolvedAt !== null, 'marked resolved by the ACK');
    assert.ok(Date.parse(after.lastError.resolvedAt) >= at);
    assert.equal(after.lastNack?.version, refusedVersion, 'lastNack is still there too');
  });
});
