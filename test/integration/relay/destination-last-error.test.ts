/**
 * A relay destination that errors keeps its last error in /streams' route
 * snapshot (issue 15, "errors that stay"): RTP sent to a port nobody listens
 * on comes back as ICMP port unreachable, which Linux reports on the
 * connected egress socket as ECONNREFUSED. The error stays once the
 * receiver appears, marked resolved by the first RTCP the receiver sends.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ReceiverReport, serializeRtcpCompound } from '../../../src/protocol/rtcp/index.js';
import { MediaRouteTable } from '../../../rtp-proxy/media/relay/index.js';
import { validateConfig } from '../../../src/config/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { waitFor } from '../../helpers/process.js';
import { UdpPeer, rtp, sleep } from '../../helpers/udp.js';

describe('a relay destination with nobody listening', () => {
  const table = new MediaRouteTable(createLogger('proxy', 'silent'));
  let sender: UdpPeer;
  let receiver: [UdpPeer, UdpPeer] | undefined;
  let receiverPort: number;
  let sequence = 0;

  const destination = () => {
    const snapshot = table.routes.get('dead')?.snapshot();
    const first = snapshot?.destinations[0];
    assert.ok(first !== undefined, 'the route and its destination');
    return first;
  };
  const sendSome = async (count: number): Promise<void> => {
    const port = table.routes.get('dead')?.ingress.port ?? 0;
    for (let i = 0; i < count; i += 1) await sender.send(rtp({ sequence: sequence++ }), port);
  };

  before(async () => {
    sender = await UdpPeer.bind();
    // A port pair that was free a moment ago and is now closed: nobody listens.
    const [rtpPeer, rtcpPeer] = await UdpPeer.bindPair();
    receiverPort = rtpPeer.port;
    rtpPeer.close();
    rtcpPeer.close();
    await table.apply(
      validateConfig(
        {
          proxy: {
            rtpPorts: { start: 47000, end: 47999 },
            routes: [
              {
                name: 'dead',
                listen: '127.0.0.1:0',
                destinations: [{ address: `127.0.0.1:${receiverPort}` }],
              },
            ],
          },
        },
        'test',
      ),
    );
  });

  after(() => {
    table.close();
    sender.close();
    receiver?.[0].close();
    receiver?.[1].close();
  });

  it('shows the port unreachable as lastError, kept and marked resolved once the receiver answers', async () => {
    assert.equal(destination().lastError, null, 'no error before any packet');
    // One packet per poll (20 ms), as audio is paced: Node's dgram reports the
    // port unreachable through the socket's 'error' event only when it comes
    // back before the next send (a send right behind a refused one fails
    // inside Node without a callback to tell, and is not counted).
    const lastError = await waitFor(
      async () => {
        await sendSome(1);
        return destination().lastError ?? undefined;
      },
      3000,
      () =>
        `a lastError on the destination: ${JSON.stringify(table.routes.get('dead')?.snapshot())}`,
    );
    assert.equal(lastError.code, 'ECONNREFUSED');
    assert.match(
      lastError.message,
      new RegExp(`127\\.0\\.0\\.1:${receiverPort}: port unreachable`),
    );
    assert.equal(lastError.resolvedAt, null);
    assert.ok(Math.abs(Date.now() - Date.parse(lastError.at)) < 5000, lastError.at);

    // The receiver appears: packets arrive, and its first receiver report proves it alive.
    receiver = [await UdpPeer.bind(receiverPort), await UdpPeer.bind(receiverPort + 1)];
    await sendSome(5);
    await receiver[0].waitForCount(1);
    const local = Number(destination().local.split(':').at(-1));
    const rr = serializeRtcpCompound([new ReceiverReport({ ssrc: 0xbeef, reports: [] })]);
    await receiver[1].send(rr, local + 1);
    const resolved = await waitFor(
      () => destination().lastError?.resolvedAt ?? undefined,
      3000,
      () => 'the error marked resolved',
    );
    assert.ok(Date.parse(resolved) >= Date.parse(lastError.at));
    await sendSome(5);
    await sleep(100);
    const kept = destination().lastError;
    assert.ok(kept !== null, 'the error is kept after the success');
    assert.equal(kept.message, lastError.message);
    assert.equal(kept.resolvedAt, resolved, 'no new error once the receiver listens');
  });
});
