/**
 * A signaling node flooding the control plane with RoomReports (review
 * finding 3), through the real control plane and scripted nodes: its sets
 * over the stream's rate are dropped and counted (`rate_limited`), a set
 * of more rooms than signaling.capacity.sessions is refused (`too_many`),
 * its stream stays, and the
 * rooms it gets placed stay within its fair share, so another node's room
 * still gets a home at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { REPORT_RATE } from '../../../src/control-plane/config-push/report-limits.js';
import type { RunningControlPlane } from '../../../src/control-plane/index.js';
import type { RoomPlacementsView } from '../../../src/control-plane/rooms/index.js';
import { newAdminToken } from '../../helpers/admin-token.js';
import { waitFor } from '../../helpers/process.js';
import { roomsAdmin, signalingAt, type ScriptedSignaling } from './rooms-scripted-signaling.js';
import { freePlanePorts, startScriptedPlane } from './scripted-plane.js';

const HEARTBEAT_MS = 200;
const GRACE_MS = 1_000;
/** signaling.capacity.sessions: each node's weight, and the most rooms one node may report. */
const SESSIONS = 20;
const FLOOD = 300;
const ROOMS = 'streammesh_control_plane_bad_room_reports_total';

describe('a signaling node flooding room reports', () => {
  const token = newAdminToken();
  let plane: RunningControlPlane | undefined;
  let adminPort: number;
  let evil: ScriptedSignaling;
  let honest: ScriptedSignaling;

  const admin = (path: string) => `http://127.0.0.1:${adminPort}${path}`;
  const roomPlacements = (): Promise<RoomPlacementsView> => roomsAdmin(admin('')).roomPlacements();
  const metric = (name: string, reason: string): Promise<number> =>
    roomsAdmin(admin('')).metric(name, reason);

  before(async () => {
    const ports = await freePlanePorts();
    adminPort = ports.admin;
    plane = await startScriptedPlane({
      ports,
      heartbeatIntervalMs: HEARTBEAT_MS,
      more: ['signaling:', '  capacity:', `    sessions: ${SESSIONS}`],
      token,
      placementGraceMs: GRACE_MS,
    });
    const grpc = `127.0.0.1:${ports.grpc}`;
    [evil, honest] = [
      signalingAt('evil', 11, grpc, HEARTBEAT_MS),
      signalingAt('sfu-a', 12, grpc, HEARTBEAT_MS),
    ];
    await evil.connect();
    await honest.connect();
    await roomsAdmin(admin('')).pastGrace();
  });

  after(async () => {
    evil.close();
    honest.close();
    await plane?.close();
  });

  it('drops sets over the rate and over the cap, places its rooms within a fair share; another node’s room gets a home', async () => {
    const before = {
      rateLimited: await metric(ROOMS, 'rate_limited'),
      tooMany: await metric(ROOMS, 'too_many'),
    };
    const rooms = (prefix: string, count: number) =>
      Array.from({ length: count }, (_, i) => ({ room: `${prefix}-${i}`, peers: 1, producers: 0 }));
    evil.reportRooms(rooms('over', SESSIONS + 1));
    const started = Date.now();
    for (let i = 0; i < FLOOD; i += 1) evil.reportRooms(rooms(`flood${i}`, SESSIONS));
    // At most a burst and what the bucket refilled meanwhile passed; the rest was dropped.
    await waitFor(
      async () => {
        const passedAtMost =
          REPORT_RATE.burst + (REPORT_RATE.perSecond * (Date.now() - started)) / 1000;
        const dropped = (await metric(ROOMS, 'rate_limited')) - before.rateLimited;
        return dropped >= FLOOD - passedAtMost ? dropped : undefined;
      },
      10_000,
      () => 'the flood counted rate_limited',
    );
    assert.equal(await metric(ROOMS, 'too_many'), before.tooMany + 1);
    assert.equal(evil.ended, false, 'the stream stays');

    honest.reportRooms([{ room: 'legit-room', peers: 1, producers: 1 }]);
    const home = await waitFor(
      () => honest.placementOf('room/legit-room'),
      5_000,
      () => 'a home for legit-room',
    );
    assert.ok(home.node === 'evil' || home.node === 'sfu-a');
    const view = await roomPlacements();
    const evilRooms = view.placements.filter(({ key }) => key.startsWith('room/flood')).length;
    const fairShare = Math.ceil(
      view.nodes.reduce((sum, n) => sum + n.weight, 0) / view.nodes.length,
    );
    assert.ok(evilRooms > 0 && evilRooms <= fairShare, `${evilRooms} rooms of the flood placed`);
  });
});
