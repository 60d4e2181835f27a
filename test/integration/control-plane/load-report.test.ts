/**
 * Nodes report their load every second: RTP sent through a relay route of a
 * real proxy node in this process shows up in the control plane's latest
 * report for it (GET /nodes and the node_load gauges) at the rate sent; a
 * report with absurd values is dropped and counted, the last good one kept.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  createMeshControlClient,
  type LoadReport,
  type MeshControlClient,
  type NodeMessageOut,
  type ResourceUpdate,
} from '../../../src/protocol/mesh/index.js';
import { formatHostPort } from '../../../src/shared/address.js';
import { defaultConfig } from '../../../src/config/index.js';
import { getJson, getText } from '../../helpers/http.js';
import {
  InProcessMesh,
  PROXY_ID,
  startOneRouteMesh,
  type NodeView,
  type OneRouteMesh,
} from '../../helpers/in-process-mesh.js';
import { waitFor } from '../../helpers/process.js';
import { rtp, sleep, UdpPeer } from '../../helpers/udp.js';

const RATE = 200;
const PAYLOAD = 160;

describe('load reports', () => {
  let relay: OneRouteMesh;
  let mesh: InProcessMesh;
  let listen: number;
  let receiver: UdpPeer;

  before(async () => {
    // Plaintext: the absurd reports come from a scripted client without a certificate.
    relay = await startOneRouteMesh({ plaintext: true });
    ({ mesh, listen, receiver } = relay);
  });

  after(() => relay.close());

  const loadOf = async (id: string): Promise<NonNullable<NodeView['load']> | undefined> => {
    const { body } = await getJson<{ nodes: NodeView[] }>(`${mesh.adminUrl}/nodes`);
    return body.nodes.find((node) => node.id === id)?.load ?? undefined;
  };

  it('shows the packets/s relayed through a route within 20% of the rate sent', async (t) => {
    const sender = await UdpPeer.bind();
    const reports: NonNullable<NodeView['load']>[] = [];
    const started = Date.now();
    const sendFor = 4_000;
    let sent = 0;
    try {
      // Paced by the clock, not by timer ticks: after t seconds, RATE * t packets.
      while (Date.now() - started < sendFor) {
        const due = Math.floor(((Date.now() - started) / 1000) * RATE);
        while (sent < due) {
          await sender.send(rtp({ sequence: sent, payload: Buffer.alloc(PAYLOAD, 1) }), listen);
          sent += 1;
        }
        const load = await loadOf(PROXY_ID);
        // Reports of whole seconds of steady sending: after the first full one.
        if (load !== undefined && Date.parse(load.sentAt) > started + 2_100) {
          if (reports.at(-1)?.sentAt !== load.sentAt) reports.push(load);
        }
        await sleep(5);
      }
    } finally {
      sender.close();
    }
    await receiver.waitForCount(Math.floor(sent * 0.95));
    const report = reports.at(-1);
    assert.ok(report, 'a report taken while sending');
    // Each packet counts in (from the sender) and out (to the one destination).
    const expected = 2 * RATE;
    t.diagnostic(
      `sent ${RATE} pkt/s; reported ${report.packetsPerSecond.toFixed(1)} pkt/s, ${Math.round(report.bitrateBps)} bit/s, ${report.cpuCores.toFixed(3)} cores`,
    );
    assert.ok(
      Math.abs(report.packetsPerSecond - expected) <= 0.2 * expected,
      `packets/s ${report.packetsPerSecond}, expected ${expected} ± 20%`,
    );
    const expectedBps = expected * (12 + PAYLOAD) * 8;
    assert.ok(
      Math.abs(report.bitrateBps - expectedBps) <= 0.2 * expectedBps,
      `bits/s ${report.bitrateBps}, expected ${expectedBps} ± 20%`,
    );
    assert.equal(report.sessions, 1, 'one media route');
    assert.ok(report.cpuCores > 0 && report.cpuCores < 64, `cpu ${report.cpuCores}`);
    assert.deepEqual(report.capacity, defaultConfig({}).proxy.capacity);

    // The gauge mirrors the latest report (read both until no report landed in between).
    await waitFor(
      async () => {
        const latest = await loadOf(PROXY_ID);
        const metrics = (await getText(`${mesh.adminUrl}/metrics`)).text;
        const gauge = new RegExp(
          `^streammesh_control_plane_node_load\\{(?=[^}]*measure="packets_per_second")(?=[^}]*node="${PROXY_ID}")(?=[^}]*node_role="ROLE_PROXY")[^}]*\\} (\\S+)$`,
          'm',
        ).exec(metrics);
        return gauge !== null && Number(gauge[1]) === latest?.packetsPerSecond ? true : undefined;
      },
      5_000,
      () => 'streammesh_control_plane_node_load to show the latest report',
    );
  });

  describe('absurd reports', () => {
    let client: MeshControlClient;
    let stream: grpc.ClientDuplexStream<NodeMessageOut, ResourceUpdate>;
    const id = 'proxy-absurd';

    before(async () => {
      client = createMeshControlClient(formatHostPort(mesh.plane?.grpc ?? { host: '', port: 0 }));
      await new Promise<void>((resolve, reject) => {
        client.register(
          {
            identity: { id, node: 'n1', role: 'ROLE_PROXY' },
            capabilities: [],
            listenAddresses: {},
            currentVersion: '',
          },
          { deadline: Date.now() + 2_000 },
          (error) => (error === null ? resolve() : reject(error)),
        );
      });
      stream = client.streamResources();
      stream.on('error', () => undefined);
      stream.write({ hello: { id, systemVersion: '', resources: [] } });
      await once(stream, 'data');
    });

    after(() => {
      stream.cancel();
      client.close();
    });

    const badReports = async (reason: string): Promise<number> => {
      const line = (await getText(`${mesh.adminUrl}/metrics`)).text
        .split('\n')
        .find(
          (text) =>
            text.startsWith('streammesh_control_plane_bad_load_reports_total{') &&
            text.includes(`reason="${reason}"`),
        );
      return line === undefined ? 0 : Number(line.split(' ')[1]);
    };

    it('drops and counts negative, NaN, huge and capacity-less reports; keeps the last good', async () => {
      const good: LoadReport = {
        sentAtMs: 1_000,
        packetsPerSecond: 10,
        bitrateBps: 1_000,
        cpuCores: 0.5,
        sessions: 2,
        capacity: { packetsPerSecond: 100, bitrateBps: 10_000, sessions: 10 },
      };
      stream.write({ load: good });
      await waitFor(async () => ((await loadOf(id)) ? true : undefined), 3_000);
      const before = {
        negative: await badReports('negative'),
        notFinite: await badReports('not_finite'),
        tooLarge: await badReports('too_large'),
      };
      stream.write({ load: { ...good, sentAtMs: 2_000, packetsPerSecond: -5 } });
      stream.write({ load: { ...good, sentAtMs: 3_000, cpuCores: Number.NaN } });
      stream.write({ load: { ...good, sentAtMs: 4_000, bitrateBps: Number.POSITIVE_INFINITY } });
      stream.write({
        load: { ...good, sentAtMs: 5_000, capacity: { ...good.capacity, sessions: 1e300 } },
      });
      await waitFor(
        async () =>
          (await badReports('negative')) === before.negative + 1 &&
          (await badReports('not_finite')) === before.notFinite + 2 &&
          (await badReports('too_large')) === before.tooLarge + 1
            ? true
            : undefined,
        3_000,
        () => 'the four bad reports counted',
      );
      const kept = await loadOf(id);
      assert.equal(kept?.sentAt, new Date(1_000).toISOString());
      assert.equal(kept.packetsPerSecond, 10);
    });
  });
});
