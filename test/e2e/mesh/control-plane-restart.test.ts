/**
 * The control plane goes away and comes back: the proxy keeps serving its
 * last good config meanwhile, reconnects by itself, and receives the version
 * the restarted control plane serves — as only the resources that changed.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { getJson, getText, tryGetJson } from '../../helpers/http.js';
import { MeshProcesses } from '../../helpers/mesh-processes.js';
import { waitFor } from '../../helpers/process.js';

/** The proxy's streammesh_node_config_resources_received_total samples, "TYPE/change" -> count. */
async function received(proxyUrl: string): Promise<Map<string, number>> {
  const { text } = await getText(`${proxyUrl}/metrics`);
  const counts = new Map<string, number>();
  for (const match of text.matchAll(
    /^streammesh_node_config_resources_received_total\{(?=[^}]*type="(\w+)")(?=[^}]*change="(\w+)")[^}]*\} (\d+)$/gm,
  )) {
    counts.set(`${match[1] ?? ''}/${match[2] ?? ''}`, Number(match[3]));
  }
  return counts;
}

describe('control plane restart', () => {
  let mesh: MeshProcesses | undefined;

  after(async () => {
    await mesh?.stop();
  });

  it('the proxy keeps its config while it is down, reconnects and gets the current version', async () => {
    mesh = await MeshProcesses.create(
      'logLevel: info\ncontrolPlane: { heartbeatIntervalMs: 200 }\n',
    );
    await mesh.startControlPlane();
    await mesh.startProxy();
    const first = await mesh.proxyConfig();
    assert.ok(first.version);
    const receivedFirst = await received(mesh.proxyUrl);
    assert.equal(receivedFirst.get('MESH_SETTINGS/update'), 1);

    await mesh.controlPlane?.stop('SIGKILL', 2_000);
    assert.equal(await tryGetJson(`${mesh.controlPlaneUrl}/healthz`), undefined);
    await waitFor(async () => {
      const metrics = await getText(`${mesh?.proxyUrl ?? ''}/metrics`);
      return /streammesh_node_control_plane_connected\{role="proxy"\} 0/.test(metrics.text)
        ? true
        : undefined;
    }, 5_000);
    // Down for a while: still ready, same config.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.equal((await getJson(`${mesh.proxyUrl}/readyz`)).status, 200);
    assert.deepEqual(await mesh.proxyConfig(), first);

    // The restarted control plane serves a changed config.
    mesh.writeConfig('logLevel: debug\ncontrolPlane: { heartbeatIntervalMs: 200 }\n');
    await mesh.startControlPlane();
    const { body } = await getJson<{ version: string }>(`${mesh.controlPlaneUrl}/config`);
    assert.notEqual(body.version, first.version);
    const dump = await waitFor(async () => {
      const current = await mesh?.proxyConfig();
      return current?.version === body.version ? current : undefined;
    }, 8_000);
    assert.equal(dump.config?.logLevel, 'debug');
    // Its Hello named what it holds: of the config, only MESH_SETTINGS
    // (logLevel) differed. The trust bundle (not config) comes again: a
    // restarted control plane signs edge tokens with a new leaf, which the
    // bundle names.
    const receivedAfter = await received(mesh.proxyUrl);
    const grown = [...receivedAfter]
      .filter(([key, count]) => count !== (receivedFirst.get(key) ?? 0))
      .sort(([a], [b]) => a.localeCompare(b));
    assert.deepEqual(grown, [
      ['MESH_SETTINGS/update', 2],
      ['TRUST_BUNDLE/update', 2],
    ]);
    const metrics = await getText(`${mesh.proxyUrl}/metrics`);
    assert.match(
      metrics.text,
      /streammesh_node_control_plane_reconnects_total\{role="proxy"\} [1-9]/,
    );
  });
});
