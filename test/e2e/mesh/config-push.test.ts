/**
 * Config reaches running proxies: a file edit or an admin API write is in
 * force on the proxy within 1 s; an update the proxy cannot apply is NACKed,
 * the old config stays, and the control plane shows which resource and why.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { getJson, getText, putText } from '../../helpers/http.js';
import { MeshProcesses } from '../../helpers/mesh-processes.js';
import { waitFor } from '../../helpers/process.js';

const base = (logLevel: string, mediaAddress = '127.0.0.1'): string =>
  [
    `logLevel: ${logLevel}`,
    'controlPlane:',
    '  heartbeatIntervalMs: 200',
    'proxy:',
    `  mediaAddress: ${mediaAddress}`,
  ].join('\n');

describe('config push to a running proxy', () => {
  let mesh: MeshProcesses;

  before(async () => {
    mesh = await MeshProcesses.create(base('info'));
    await mesh.startControlPlane();
    await mesh.startProxy();
  });

  after(async () => {
    await mesh.stop();
  });

  it('the proxy runs the control plane version and the control plane sees its ACK', async () => {
    const { body } = await getJson<{ version: string }>(`${mesh.controlPlaneUrl}/config`);
    assert.equal((await mesh.proxyConfig()).version, body.version);
    const node = await waitFor(async () => {
      const found = await mesh.proxyNode();
      return found?.ackedVersion === body.version ? found : undefined;
    }, 2_000);
    assert.equal(node.state, 'connected');
    assert.equal(node.role, 'ROLE_PROXY');
  });

  it('an edit of the config file is in force on the proxy within 1 s', async () => {
    const before = (await mesh.proxyConfig()).version;
    const started = Date.now();
    mesh.writeConfig(base('debug'));
    const dump = await waitFor(async () => {
      const current = await mesh.proxyConfig();
      return current.version !== before ? current : undefined;
    }, 3_000);
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 1_000, `took ${elapsed} ms`);
    assert.equal(dump.config?.logLevel, 'debug');
  });

  it('a write on the admin API is in force on the proxy within 1 s', async () => {
    const started = Date.now();
    const put = await putText<{ version: string; changed: boolean }>(
      `${mesh.controlPlaneUrl}/config`,
      base('warn'),
      mesh.adminToken,
    );
    assert.equal(put.status, 200);
    assert.equal(put.body.changed, true);
    await waitFor(
      async () => ((await mesh.proxyConfig()).version === put.body.version ? true : undefined),
      3_000,
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 1_000, `took ${elapsed} ms`);
    assert.equal((await mesh.proxyConfig()).config?.logLevel, 'warn');
  });

  it('an update the proxy rejects leaves its config in force; the NACK names the resource and why', async () => {
    const before = await mesh.proxyConfig();
    // 192.0.2.1 (TEST-NET-1) is valid config but no address of this machine.
    const put = await putText<{ version: string }>(
      `${mesh.controlPlaneUrl}/config`,
      base('warn', '192.0.2.1'),
      mesh.adminToken,
    );
    assert.equal(put.status, 200);
    const node = await waitFor(async () => {
      const found = await mesh.proxyNode();
      return found?.lastNack?.version === put.body.version ? found : undefined;
    }, 3_000);
    assert.match(
      node.lastNack?.reason ?? '',
      /^relay: proxy\.mediaAddress: 192\.0\.2\.1 cannot be bound on this node \(EADDRNOTAVAIL\)$/,
    );
    // mediaAddress lives in MESH_SETTINGS, the only resource of that update.
    assert.deepEqual(
      node.resources.filter((state) => state.nacked !== null).map((s) => `${s.type}/${s.name}`),
      ['MESH_SETTINGS/mesh'],
    );
    assert.equal(node.ackedVersion, before.version);
    const after = await mesh.proxyConfig();
    assert.equal(after.version, before.version);
    assert.equal(after.config?.proxy.mediaAddress, '127.0.0.1');
    assert.equal((await getJson(`${mesh.proxyUrl}/readyz`)).status, 200);
    // Both sides count the refusal, and the same number of them once the
    // answers have arrived: the control plane sends a refused resource again
    // with a later update of the node (CI saw the same MESH_SETTINGS sent and
    // refused twice), so the count is not always 1.
    const counts = async (): Promise<[number, number]> => {
      const proxy = /streammesh_node_config_applies_total\{result="nack",role="proxy"\} (\d+)/.exec(
        (await getText(`${mesh.proxyUrl}/metrics`)).text,
      );
      const controlPlane =
        /streammesh_control_plane_config_nacks_total\{role="control-plane"\} (\d+)/.exec(
          (await getText(`${mesh.controlPlaneUrl}/metrics`)).text,
        );
      return [Number(proxy?.[1] ?? 0), Number(controlPlane?.[1] ?? 0)];
    };
    let last: [number, number] = [0, 0];
    await waitFor(
      async () => {
        last = await counts();
        return last[0] >= 1 && last[0] === last[1] ? true : undefined;
      },
      3_000,
      () => `NACKs counted by the proxy and the control plane: ${last.join(' and ')}`,
    );
  });

  it('a bad edit of the file is refused by the control plane and changes nothing', async () => {
    const before = await getJson<{ version: string }>(`${mesh.controlPlaneUrl}/config`);
    mesh.writeConfig('proxy:\n  rtpPorts: { start: 40000, end: 30000 }\n');
    const refused = await waitFor(async () => {
      const current = await getJson<{ version: string; lastReloadError: string | null }>(
        `${mesh.controlPlaneUrl}/config`,
      );
      return current.body.lastReloadError === null ? undefined : current.body;
    }, 3_000);
    assert.match(
      refused.lastReloadError ?? '',
      /mesh\.yaml: proxy\.rtpPorts: start must be <= end$/,
    );
    assert.equal(refused.version, before.body.version);
  });

  it('an admin write of a bad config is answered 400 with the field and reason', async () => {
    const put = await putText<{ error: string }>(
      `${mesh.controlPlaneUrl}/config`,
      'logLevel: loud',
      mesh.adminToken,
    );
    assert.equal(put.status, 400);
    assert.match(put.body.error, /^PUT \/config: logLevel: must be one of/);
  });

  it('a proxy that misses heartbeats is marked stale, and connected again when it resumes', async () => {
    const pid = mesh.proxy?.child.pid ?? 0;
    process.kill(pid, 'SIGSTOP');
    try {
      // 3 missed heartbeats of 200 ms.
      await waitFor(
        async () => ((await mesh.proxyNode())?.state === 'stale' ? true : undefined),
        3_000,
      );
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitFor(
      async () => ((await mesh.proxyNode())?.state === 'connected' ? true : undefined),
      3_000,
    );
  });
});
