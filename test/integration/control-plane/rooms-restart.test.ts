/**
 * A control-plane restart changes no room (issue 18): two scripted
 * signaling nodes share r1 with both pipe ends keyed; the control plane is
 * closed and a new one started on the same ports. The nodes reconnect and
 * their Hellos return the room PLACEMENT and the PIPE they hold (keys
 * included); after the grace they hold the very same versions, and the
 * restarted control plane sent them no PIPE and no room PLACEMENT at all:
 * no transport is torn down, no home moves.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pipeResourceName } from '../../../src/config/index.js';
import type { RunningControlPlane } from '../../../src/control-plane/index.js';
import type { PipeEndpoint } from '../../../src/protocol/mesh/index.js';
import { newAdminToken } from '../../helpers/admin-token.js';
import { waitFor } from '../../helpers/process.js';
import {
  keyedEndpoint,
  roomsAdmin,
  signalingAt,
  type ScriptedSignaling,
} from './rooms-scripted-signaling.js';
import { freePlanePorts, startScriptedPlane, type PlanePorts } from './scripted-plane.js';

const HEARTBEAT_MS = 200;
const GRACE_MS = 1_500;
const PIPE_R1 = pipeResourceName('r1', 'sig-a', 'sig-b');

describe('a control-plane restart and SFU rooms', () => {
  const token = newAdminToken();
  let ports: PlanePorts;
  let plane: RunningControlPlane | undefined;
  let nodes: ScriptedSignaling[] = [];

  const startPlane = async (): Promise<void> => {
    plane = await startScriptedPlane({
      ports,
      heartbeatIntervalMs: HEARTBEAT_MS,
      more: ['  staleAfterMissedHeartbeats: 3'],
      token,
      placementGraceMs: GRACE_MS,
    });
  };
  const pastGrace = (): Promise<void> => roomsAdmin(`http://127.0.0.1:${ports.admin}`).pastGrace();
  const endpoints = new Map<string, PipeEndpoint>();
  /** What a real node sends after every Hello: its rooms and its pipe ends. */
  const report = (): void => {
    for (const node of nodes) {
      node.reportRooms([{ room: 'r1', peers: 1, producers: 1 }]);
      const own = endpoints.get(node.options.id);
      if (own !== undefined) node.reportPipes([own]);
    }
  };

  before(async () => {
    ports = await freePlanePorts();
    await startPlane();
    const grpc = `127.0.0.1:${ports.grpc}`;
    nodes = ['sig-a', 'sig-b'].map((id, i) => signalingAt(id, 11 + i, grpc, HEARTBEAT_MS));
    for (const node of nodes) await node.connect();
    await pastGrace();
    report();
    await waitFor(
      () => (nodes.every((node) => node.pipes().has(PIPE_R1)) ? true : undefined),
      5_000,
      () => 'PIPE r1 at both nodes',
    );
    endpoints.set('sig-a', keyedEndpoint(PIPE_R1, '127.0.0.11:40000'));
    endpoints.set('sig-b', keyedEndpoint(PIPE_R1, '127.0.0.12:40000'));
    report();
    await waitFor(
      () =>
        nodes.every((node) => {
          const body = node.pipes().get(PIPE_R1);
          return body?.a.srtp !== undefined && body.b.srtp !== undefined;
        })
          ? true
          : undefined,
      5_000,
      () => 'both ends keyed at both nodes',
    );
  });

  after(async () => {
    for (const node of nodes) node.close();
    await plane?.close();
  });

  it('keeps every PIPE and room PLACEMENT version, sending none again', async () => {
    const held = (node: ScriptedSignaling) =>
      [...node.held.values()]
        .filter(({ type, name }) => type === 'PIPE' || name.startsWith('room/'))
        .map(({ type, name, version }) => `${type}/${name}@${version}`)
        .sort();
    const before = nodes.map(held);
    assert.equal(before[0]?.length, 2, 'the PIPE and room/r1');
    await plane?.close();
    for (const node of nodes) node.close();
    await startPlane();
    const sentBefore = nodes.map((node) => node.updates.length);
    for (const node of nodes) await node.connect();
    report();
    await pastGrace();
    // Past the grace, the first planning passes have run.
    await new Promise((resolve) => setTimeout(resolve, 4 * HEARTBEAT_MS));
    assert.deepEqual(nodes.map(held), before, 'the same versions');
    nodes.forEach((node, i) => {
      const since = node.updates.slice(sentBefore[i]);
      const resent = since.flatMap((update) => [
        ...update.resources
          .filter(({ type, name }) => type === 'PIPE' || name.startsWith('room/'))
          .map(({ name }) => name),
        ...update.removed
          .filter(({ type, name }) => type === 'PIPE' || name.startsWith('room/'))
          .map(({ name }) => `-${name}`),
      ]);
      assert.deepEqual(resent, [], `${node.options.id} was sent no pipe or room placement`);
    });
  });
});
