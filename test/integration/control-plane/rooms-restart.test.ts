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
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { parseConfigText, pipeResourceName } from '../../../src/config/index.js';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/index.js';
import type { RoomPlacementsView } from '../../../src/control-plane/rooms/index.js';
import { AdminCredentials } from '../../../src/shared/admin/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { newAdminToken } from '../../helpers/admin-token.js';
import { getJson } from '../../helpers/http.js';
import { freePort } from '../../helpers/ports.js';
import { waitFor } from '../../helpers/process.js';
import { ScriptedSignaling } from './rooms-scripted-signaling.js';

const HEARTBEAT_MS = 200;
const GRACE_MS = 1_500;
const PIPE_R1 = pipeResourceName('r1', 'sig-a', 'sig-b');

describe('a control-plane restart and SFU rooms', () => {
  const token = newAdminToken();
  let grpcPort: number;
  let adminPort: number;
  let plane: RunningControlPlane | undefined;
  let nodes: ScriptedSignaling[] = [];

  const startPlane = async (): Promise<void> => {
    plane = await startControlPlane({
      config: parseConfigText(
        [
          'logLevel: silent',
          'controlPlane:',
          '  mtls: false',
          `  admin: 127.0.0.1:${adminPort}`,
          `  grpc: 127.0.0.1:${grpcPort}`,
          `  heartbeatIntervalMs: ${HEARTBEAT_MS}`,
          '  staleAfterMissedHeartbeats: 3',
        ].join('\n'),
        'control plane',
      ),
      log: createLogger('control-plane', 'silent'),
      credentials: AdminCredentials.ofToken(token),
      placementGraceMs: GRACE_MS,
    });
  };
  const restoring = async (): Promise<boolean> =>
    (await getJson<{ rooms: RoomPlacementsView }>(`http://127.0.0.1:${adminPort}/placements`)).body
      .rooms.restoring;
  const endpoints = new Map<string, ReturnType<typeof endpointOf>>();
  function endpointOf(last: number) {
    return {
      pipeId: PIPE_R1,
      address: `127.0.0.${last}:40000`,
      srtpCryptoSuite: 'AEAD_AES_256_GCM',
      srtpKeyBase64: randomBytes(44).toString('base64'),
    };
  }
  /** What a real node sends after every Hello: its rooms and its pipe ends. */
  const report = (): void => {
    for (const node of nodes) {
      node.reportRooms([{ room: 'r1', peers: 1, producers: 1 }]);
      const own = endpoints.get(node.options.id);
      if (own !== undefined) node.reportPipes([own]);
    }
  };

  before(async () => {
    grpcPort = await freePort();
    adminPort = await freePort();
    await startPlane();
    nodes = ['sig-a', 'sig-b'].map(
      (id, i) =>
        new ScriptedSignaling({
          id,
          grpc: `127.0.0.1:${grpcPort}`,
          heartbeatIntervalMs: HEARTBEAT_MS,
          listen: `127.0.0.${11 + i}:8080`,
          cascade: `127.0.0.${11 + i}:8444`,
        }),
    );
    for (const node of nodes) await node.connect();
    await waitFor(async () => ((await restoring()) ? undefined : true), 10_000);
    report();
    await waitFor(
      () => (nodes.every((node) => node.pipes().has(PIPE_R1)) ? true : undefined),
      5_000,
      () => 'PIPE r1 at both nodes',
    );
    endpoints.set('sig-a', endpointOf(11));
    endpoints.set('sig-b', endpointOf(12));
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
    await waitFor(async () => ((await restoring()) ? undefined : true), 10_000);
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
