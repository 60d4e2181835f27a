/**
 * Nodes report their stats to the control plane on the resource stream: the
 * latest report per node is served at GET /stats; a report that is not JSON
 * or too large is dropped and counted, and the stream carries on.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/index.js';
import {
  MAX_STATS_JSON_LENGTH,
  createMeshControlClient,
  type MeshControlClient,
  type NodeMessageOut,
  type ResourceUpdate,
} from '../../../src/protocol/mesh/index.js';
import { formatHostPort, httpUrl } from '../../../src/shared/address.js';
import { defaultConfig } from '../../../src/config/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { getJson, getText } from '../../helpers/http.js';

interface StatsBody {
  nodes: { id: string; role: string; state: string; sentAt: string; stats: unknown }[];
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('stats reports from nodes', () => {
  let plane: RunningControlPlane;
  let client: MeshControlClient;
  let adminUrl: string;
  let stream: grpc.ClientDuplexStream<NodeMessageOut, ResourceUpdate>;

  before(async () => {
    const defaults = defaultConfig({
      STREAMMESH_CONTROL_PLANE_ADMIN: '127.0.0.1:0',
      STREAMMESH_CONTROL_PLANE_GRPC: '127.0.0.1:0',
    });
    // A raw plaintext client: this test is about the protocol's messages, not mTLS.
    const config = { ...defaults, controlPlane: { ...defaults.controlPlane, mtls: false } };
    plane = await startControlPlane({ config, log: createLogger('control-plane', 'silent') });
    client = createMeshControlClient(formatHostPort(plane.grpc));
    adminUrl = httpUrl(plane.admin);
    await new Promise<void>((resolve, reject) => {
      client.register(
        {
          identity: { id: 'signaling-a', node: 'n1', role: 'ROLE_SIGNALING' },
          capabilities: ['signaling'],
          listenAddresses: { admin: '127.0.0.1:1' },
          currentVersion: '',
        },
        { deadline: Date.now() + 2_000 },
        (error) => (error === null ? resolve() : reject(error)),
      );
    });
    stream = client.streamResources();
    // The stream's end (cancelled in `after`) is not under test.
    stream.on('error', () => undefined);
    stream.write({ hello: { id: 'signaling-a', systemVersion: '', resources: [] } });
    await once(stream, 'data');
  });

  after(() => {
    stream.cancel();
    client.close();
    return plane.close();
  });

  const reportOf = async (): Promise<StatsBody['nodes'][number] | undefined> => {
    const body = await getJson<StatsBody>(`${adminUrl}/stats`);
    return body.body.nodes.find((node) => node.id === 'signaling-a');
  };
  const badReports = async (reason: string): Promise<number> => {
    const metrics = await getText(`${adminUrl}/metrics`);
    const line = metrics.text
      .split('\n')
      .find(
        (text) =>
          text.startsWith('streammesh_control_plane_bad_stats_reports_total{') &&
          text.includes(`reason="${reason}"`),
      );
    return line === undefined ? 0 : Number(line.split(' ')[1]);
  };

  it('keeps the latest report per node and serves it at /stats', async () => {
    assert.equal(await reportOf(), undefined, 'no report before the first');
    const first = { rooms: [{ room: 'standup', peers: 2 }] };
    stream.write({ stats: { sentAtMs: 1_000, statsJson: JSON.stringify(first) } });
    await until(async () => (await reportOf()) !== undefined, 'the first report');
    const second = { rooms: [{ room: 'standup', peers: 3 }] };
    stream.write({ stats: { sentAtMs: 2_000, statsJson: JSON.stringify(second) } });
    await until(
      async () => JSON.stringify((await reportOf())?.stats) === JSON.stringify(second),
      'the second report',
    );
    const report = await reportOf();
    assert.equal(report?.role, 'ROLE_SIGNALING');
    assert.equal(report.sentAt, new Date(2_000).toISOString());
    const nodes = await getJson<{ nodes: Record<string, unknown>[] }>(`${adminUrl}/nodes`);
    assert.ok(
      nodes.body.nodes.every((node) => !('stats' in node)),
      '/nodes stays small: stats only at /stats',
    );
  });

  it('drops and counts a report that is not JSON or too large; the stream carries on', async () => {
    const badJsonBefore = await badReports('bad_json');
    const tooLargeBefore = await badReports('too_large');
    stream.write({ stats: { sentAtMs: 3_000, statsJson: '{"rooms": [' } });
    stream.write({
      stats: { sentAtMs: 4_000, statsJson: `"${'x'.repeat(MAX_STATS_JSON_LENGTH)}"` },
    });
    await until(
      async () =>
        (await badReports('bad_json')) === badJsonBefore + 1 &&
        (await badReports('too_large')) === tooLargeBefore + 1,
      'both bad reports counted',
    );
    assert.equal((await reportOf())?.sentAt, new Date(2_000).toISOString(), 'last good kept');
    stream.write({ stats: { sentAtMs: 5_000, statsJson: '{"rooms":[]}' } });
    await until(
      async () => (await reportOf())?.sentAt === new Date(5_000).toISOString(),
      'a good report after the bad ones',
    );
  });
});
