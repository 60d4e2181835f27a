/**
 * Cascade pipes inside the RTC port budget (issue 18). A pipe is made by the
 * rooms a node shares with other nodes, not by a participant, so no
 * participant budget holds it back: a client holding many rooms that another
 * node also holds (one Router each, no transport) would otherwise make one
 * pipe port per room and peer node, out of the ports participants need.
 * Pipes bind only in the top quarter of their worker's slice
 * (sfu/port-slices.ts `pipePortRange`).
 *
 * One real mediasoup worker with a 16-port slice: ten rooms each open a
 * pipe to a peer node. Four pipes open, all in the slice's top four ports;
 * six are refused (ERR_PIPE_PORTS) and counted in
 * `streammesh_signaling_pipes_refused_total`. Then participants' WebRTC
 * transports take the twelve ports left: all twelve are made (without the
 * bound, ten pipes would have left six). Closing a pipe gives its port
 * back: a refused room's pipe opens then.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { types } from 'mediasoup';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { PipeSet, PipeSetError, registerPipeMetrics } from '../../../signaling/cascade/index.js';
import { WorkerPool, createWebRtcTransport, pipePortRange } from '../../../signaling/sfu/index.js';
import { parseHostPort } from '../../../src/shared/address.js';

const log = pino({ level: 'silent' });
const HOST = '127.0.0.14';
const SLICE = { min: 43510, max: 43525 } as const;
const ROOMS = 10;
const PEER = 'node-z';
const codecs: types.RouterRtpCodecCapability[] = [
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
];

async function refusedTotal(registry: Registry): Promise<number> {
  const metric = registry.getSingleMetric('streammesh_signaling_pipes_refused_total');
  const values = (await metric?.get())?.values ?? [];
  return values.reduce((sum, value) => sum + value.value, 0);
}

describe('cascade pipes within the RTC port budget', { timeout: 30_000 }, () => {
  let pool: WorkerPool | undefined;
  const routers: types.Router[] = [];
  const sets: PipeSet[] = [];

  before(async () => {
    pool = await WorkerPool.create({ size: 1, rtcMinPort: SLICE.min, rtcMaxPort: SLICE.max, log });
    for (let index = 0; index < ROOMS; index += 1) {
      routers.push((await pool.createRouter(codecs, { room: `room-${index}` })).router);
    }
  });

  after(async () => {
    for (const set of sets) set.close();
    await pool?.close();
  });

  it('keeps pipes in a quarter of the worker’s ports, refuses and counts the rest, and leaves participants theirs', async () => {
    const registry = new Registry();
    registerPipeMetrics(registry);
    const refusedBefore = await refusedTotal(registry);
    const share = pipePortRange(SLICE);
    assert.deepEqual(share, { min: 43522, max: 43525 }, 'the top quarter of 16 ports');

    const opened = await Promise.allSettled(
      routers.map((router, index) => {
        const set = new PipeSet({
          router,
          room: `room-${index}`,
          node: 'node-a',
          rtc: { listenIp: HOST },
          log,
        });
        sets.push(set);
        return set.open(PEER, `pipe/room-${index}/node-a~${PEER}`);
      }),
    );
    const ports = opened.flatMap((result) => {
      if (result.status === 'rejected') return [];
      const address = parseHostPort(result.value.address);
      assert.ok(typeof address !== 'string');
      return [address.port];
    });
    const refusals = opened.flatMap((result) =>
      result.status === 'rejected' ? [result.reason as unknown] : [],
    );
    assert.equal(ports.length, share.max - share.min + 1, `pipes opened on ports ${ports.join()}`);
    assert.ok(
      ports.every((port) => port >= share.min && port <= share.max),
      `every pipe in ${share.min}-${share.max}: ${ports.join()}`,
    );
    assert.equal(refusals.length, ROOMS - ports.length);
    for (const refusal of refusals) {
      assert.ok(
        refusal instanceof PipeSetError && refusal.code === 'ERR_PIPE_PORTS',
        String(refusal),
      );
    }
    assert.equal((await refusedTotal(registry)) - refusedBefore, refusals.length);

    // Participants: every port outside the pipes' share is theirs.
    const first = routers[0];
    assert.ok(first !== undefined);
    const transports: types.WebRtcTransport[] = [];
    const participantPorts = SLICE.max - SLICE.min + 1 - ports.length;
    for (let index = 0; index < participantPorts; index += 1) {
      transports.push(
        await createWebRtcTransport(first, { listenIp: HOST }, { peer: `p${index}` }),
      );
    }
    assert.equal(transports.length, 12);
    for (const transport of transports) transport.close();

    // A pipe closed gives its port back: a refused room's pipe opens.
    const openSet = sets.find((set) => set.stats().pipes.length === 1);
    const refusedSet = sets.find((set) => set.stats().pipes.length === 0);
    assert.ok(openSet !== undefined && refusedSet !== undefined);
    await openSet.closePeer(PEER);
    const end = await refusedSet.open(PEER, `pipe/${refusedSet.room}/node-a~${PEER}`);
    const port = parseHostPort(end.address);
    assert.ok(typeof port !== 'string' && port.port >= share.min && port.port <= share.max);
  });
});
