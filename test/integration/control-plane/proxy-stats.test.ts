/**
 * A proxy reports its stream quality to the control plane as signaling nodes
 * do: RTP relayed through a route of a real proxy node in this process shows
 * up in the control plane's GET /stats, per stream, with the packets it
 * received and the packets it lost (RFC 3550 A.3).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ProxyStatsReport } from '../../../rtp-proxy/media/metrics/index.js';
import { getJson } from '../../helpers/http.js';
import {
  InProcessMesh,
  PROXY_ID,
  startOneRouteMesh,
  type OneRouteMesh,
} from '../../helpers/in-process-mesh.js';
import { waitFor } from '../../helpers/process.js';
import { rtp, sleep, UdpPeer } from '../../helpers/udp.js';

const SSRC = 0x5eed;
/** Sequence numbers 0-99 but for these five, never sent: lost on the way. */
const SKIPPED = new Set([50, 51, 52, 53, 54]);

interface StatsBody {
  nodes: { id: string; role: string; sentAt: string; stats: ProxyStatsReport }[];
}

describe('stats reports from a proxy', () => {
  let relay: OneRouteMesh;
  let mesh: InProcessMesh;
  let listen: number;
  let receiver: UdpPeer;

  before(async () => {
    relay = await startOneRouteMesh();
    ({ mesh, listen, receiver } = relay);
  });

  after(() => relay.close());

  it("shows each relayed stream's packets and losses at the control plane's /stats", async (t) => {
    const sender = await UdpPeer.bind();
    let sent = 0;
    try {
      for (let sequence = 0; sequence < 100; sequence++) {
        if (SKIPPED.has(sequence)) continue;
        await sender.send(rtp({ sequence, ssrc: SSRC }), listen);
        sent += 1;
        if (sequence % 10 === 9) await sleep(2);
      }
    } finally {
      sender.close();
    }
    await receiver.waitForCount(sent);
    const started = Date.now();
    const report = await waitFor(
      async () => {
        const { body } = await getJson<StatsBody>(`${mesh.adminUrl}/stats`);
        const node = body.nodes.find((n) => n.id === PROXY_ID);
        const stream = node?.stats.relay.find((s) => s.route === 'cam' && s.ssrc === SSRC);
        return node !== undefined && stream?.packets === sent ? { node, stream } : undefined;
      },
      5_000,
      () => `the proxy's report at /stats to show ${sent} packets of SSRC ${SSRC}`,
    );
    t.diagnostic(`report at /stats ${Date.now() - started} ms after the last packet was relayed`);
    assert.equal(report.node.role, 'ROLE_PROXY');
    assert.equal(report.stream.lost, SKIPPED.size);
    // lost / expected, where the first packet only starts the probation (RFC 3550 A.1).
    assert.ok(
      Math.abs(report.stream.lossFraction - SKIPPED.size / 100) < 0.001,
      `loss fraction ${report.stream.lossFraction}`,
    );
    assert.equal(report.stream.kind, 'video');
    assert.ok(report.stream.bytes >= sent * 172, `bytes ${report.stream.bytes}`);
    assert.ok(report.stream.jitterMs >= 0);
    assert.equal(report.node.stats.omitted, 0);
  });
});
