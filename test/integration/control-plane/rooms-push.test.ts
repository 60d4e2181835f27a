/**
 * SFU rooms through the real control plane (startControlPlane, plaintext
 * gRPC) and scripted nodes (issue 18): three signaling nodes and a proxy.
 * Two signaling nodes that report room r1 get its PLACEMENT (one home), the
 * SIGNALING_NODE of every signaling node and the PIPE between them; once
 * both sent their PipeEndpoints each holds the PIPE with the other end's
 * address and key, while the third node (not in r1) is never sent a PIPE
 * and the proxy none of these resources; no admin view or metric holds a
 * key. A node that stops reporting r1 loses the PIPE; bad RoomReports and
 * PipeEndpoints (an end on a host the node did not register among them)
 * are dropped whole and counted by reason while the stream
 * stays; a stale node's rooms move to the others (node_failed); a drained
 * node shows draining to every node and its rooms move (node_drained).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunningControlPlane } from '../../../src/control-plane/index.js';
import type {
  PipesView,
  RoomPlacementsView,
  RoomsView,
} from '../../../src/control-plane/rooms/index.js';
import { MAX_ROOM_REPORTS } from '../../../src/protocol/mesh/index.js';
import { newAdminToken } from '../../helpers/admin-token.js';
import { getJson, getText } from '../../helpers/http.js';
import { waitFor } from '../../helpers/process.js';
import {
  keyedEndpoint,
  roomsAdmin,
  ScriptedSignaling,
  signalingAt,
} from './rooms-scripted-signaling.js';
import { freePlanePorts, startScriptedPlane } from './scripted-plane.js';

const HEARTBEAT_MS = 200;
/** Long enough for the scripted nodes to connect on a busy machine. */
const GRACE_MS = 1_500;
const LINGER_MS = 1_000;
const PIPE_R1 = 'pipe/r1/sig-a~sig-b';

describe('SFU rooms through the control plane', () => {
  const token = newAdminToken();
  let plane: RunningControlPlane | undefined;
  let adminPort: number;
  let a: ScriptedSignaling;
  let b: ScriptedSignaling;
  let c: ScriptedSignaling;
  let proxy: ScriptedSignaling;
  const keys: string[] = [];

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
      more: ['  staleAfterMissedHeartbeats: 3'],
      token,
      placementGraceMs: GRACE_MS,
      roomLingerMs: LINGER_MS,
    });
    const grpc = `127.0.0.1:${ports.grpc}`;
    [a, b, c] = [
      signalingAt('sig-a', 11, grpc, HEARTBEAT_MS),
      signalingAt('sig-b', 12, grpc, HEARTBEAT_MS),
      signalingAt('sig-c', 13, grpc, HEARTBEAT_MS),
    ];
    proxy = new ScriptedSignaling({
      id: 'proxy-a',
      grpc,
      heartbeatIntervalMs: HEARTBEAT_MS,
      listen: '127.0.0.1:8080',
      role: 'ROLE_PROXY',
    });
    for (const scripted of [a, b, c]) await scripted.connect();
    await proxy.connect();
    await roomsAdmin(admin('')).pastGrace();
    a.reportRooms([{ room: 'r1', peers: 2, producers: 2 }]);
    b.reportRooms([{ room: 'r1', peers: 1, producers: 0 }]);
    c.reportRooms([{ room: 'r2', peers: 1, producers: 1 }]);
  });

  after(async () => {
    for (const scripted of [a, b, c]) scripted.close();
    proxy.close();
    await plane?.close();
  });

  it('the two nodes of r1 get its home, every signaling node and their PIPE; the others none of it', async () => {
    await waitFor(
      () => (a.pipes().has(PIPE_R1) && b.pipes().has(PIPE_R1) ? true : undefined),
      5_000,
      () => 'PIPE r1 at sig-a and sig-b',
    );
    const homes = [a, b].map((node) => node.placementOf('room/r1')?.node);
    assert.ok(homes[0] !== undefined && ['sig-a', 'sig-b', 'sig-c'].includes(homes[0]));
    assert.equal(homes[1], homes[0], 'one home for r1, as both nodes hold it');
    await waitFor(
      () => (c.placementOf('room/r1') !== undefined ? true : undefined),
      5_000,
      () => 'sig-c told where r1 lives',
    );
    for (const node of [a, b, c]) {
      const names = [...node.held.keys()].filter((key) => key.startsWith('SIGNALING_NODE/'));
      assert.deepEqual(names.sort(), [
        'SIGNALING_NODE/sig-a',
        'SIGNALING_NODE/sig-b',
        'SIGNALING_NODE/sig-c',
      ]);
    }
    const sigB = a.signalingNodeOf('sig-b');
    assert.deepEqual(sigB, {
      node: 'sig-b',
      identity: null,
      url: 'http://127.0.0.12:8080',
      link: '127.0.0.12:8444',
      draining: false,
    });
    const pipe = a.pipes().get(PIPE_R1);
    assert.deepEqual(pipe, {
      pipeId: PIPE_R1,
      room: 'r1',
      a: { node: 'sig-a', identity: null },
      b: { node: 'sig-b', identity: null },
    });
    assert.deepEqual(c.everSent('PIPE'), [], 'sig-c is in no shared room: no PIPE ever');
    assert.ok(c.held.has('PLACEMENT/room/r2'));
    // The proxy: none of the rooms' resources.
    const proxyTypes = proxy.updates.flatMap((update) =>
      update.resources.map((resource) => `${resource.type}/${resource.name}`),
    );
    assert.deepEqual(
      proxyTypes.filter(
        (name) =>
          name.startsWith('PLACEMENT/room/') ||
          name.startsWith('SIGNALING_NODE/') ||
          name.startsWith('PIPE/'),
      ),
      [],
    );
    // Signaling nodes get no camera placements nor hop keys.
    assert.deepEqual(
      [...a.held.keys()].filter((key) => key.startsWith('MEDIA_KEY/')),
      [],
    );
  });

  it('each end gets the other end address and key once both reported; the third node nothing', async () => {
    const fromA = keyedEndpoint(PIPE_R1, '127.0.0.11:40000');
    const fromB = keyedEndpoint(PIPE_R1, '127.0.0.12:40002');
    keys.push(fromA.srtpKeyBase64, fromB.srtpKeyBase64);
    a.reportPipes([fromA]);
    b.reportPipes([fromB]);
    const keyed = (node: ScriptedSignaling) => {
      const body = node.pipes().get(PIPE_R1);
      return body?.a.srtp !== undefined && body.b.srtp !== undefined ? body : undefined;
    };
    const atA = await waitFor(
      () => keyed(a),
      5_000,
      () => 'sig-a holds both ends',
    );
    const atB = await waitFor(
      () => keyed(b),
      5_000,
      () => 'sig-b holds both ends',
    );
    assert.deepEqual(atA, atB, 'one body for both ends');
    assert.equal(atA.b.address, fromB.address);
    assert.equal(atA.b.srtp?.keyBase64, fromB.srtpKeyBase64, 'sig-a has sig-b key');
    assert.equal(atB.a.address, fromA.address);
    assert.equal(atB.a.srtp?.keyBase64, fromA.srtpKeyBase64, 'sig-b has sig-a key');
    assert.deepEqual(c.everSent('PIPE'), []);
    const seenByOthers = [
      ...c.updates.flatMap((update) => update.resources.map((resource) => resource.bodyJson)),
      ...proxy.updates.flatMap((update) => update.resources.map((r) => r.bodyJson)),
    ].join('\n');
    for (const key of keys) assert.ok(!seenByOthers.includes(key), 'no key reaches a third node');
    const pipes = (await getJson<PipesView>(admin('/pipes'))).body;
    assert.deepEqual(
      pipes.pipes.map(({ pipeId, a: endA, b: endB }) => [pipeId, endA.keyed, endB.keyed]),
      [[PIPE_R1, true, true]],
    );
    const rooms = (await getJson<RoomsView>(admin('/rooms'))).body;
    const r1 = rooms.rooms.find(({ room }) => room === 'r1');
    assert.ok(r1);
    assert.deepEqual(
      r1.nodes.map(({ node, peers, producers }) => [node, peers, producers]),
      [
        ['sig-a', 2, 2],
        ['sig-b', 1, 0],
      ],
    );
    assert.equal(r1.home?.node, a.placementOf('room/r1')?.node);
    for (const path of ['/pipes', '/rooms', '/placements', '/nodes', '/metrics']) {
      const { text } = await getText(admin(path));
      for (const key of keys) assert.ok(!text.includes(key), `no key in GET ${path}`);
    }
  });

  it('bad RoomReports and PipeEndpoints are dropped whole and counted; the stream stays', async () => {
    const rooms = 'streammesh_control_plane_bad_room_reports_total';
    const pipes = 'streammesh_control_plane_bad_pipe_endpoints_total';
    const before = {
      tooMany: await metric(rooms, 'too_many'),
      badRoom: await metric(rooms, 'bad_room'),
      notSignaling: await metric(rooms, 'not_signaling'),
      notOwn: await metric(pipes, 'not_own_pipe'),
      badKey: await metric(pipes, 'bad_key'),
      badSuite: await metric(pipes, 'bad_suite'),
      badId: await metric(pipes, 'bad_pipe_id'),
      badAddress: await metric(pipes, 'bad_address'),
      proxyPipes: await metric(pipes, 'not_signaling'),
    };
    const held = a.pipes().get(PIPE_R1);
    a.reportRooms(
      Array.from({ length: MAX_ROOM_REPORTS + 1 }, (_, i) => ({
        room: `x${i}`,
        peers: 1,
        producers: 0,
      })),
    );
    a.reportRooms([{ room: '../etc', peers: 1, producers: 0 }]);
    // sig-a speaks for sig-b and sig-c's pipe: not its own.
    a.reportPipes([keyedEndpoint('pipe/r1/sig-b~sig-c', '127.0.0.11:40000')]);
    a.reportPipes([{ ...keyedEndpoint(PIPE_R1, '127.0.0.11:40000'), srtpKeyBase64: 'c2hvcnQ=' }]);
    a.reportPipes([
      { ...keyedEndpoint(PIPE_R1, '127.0.0.11:40000'), srtpCryptoSuite: 'AES_CM_128_HMAC_SHA1_80' },
    ]);
    a.reportPipes([keyedEndpoint('pipe/r1/sig-b~sig-a', '127.0.0.11:40000')]);
    // Not a host sig-a registered: its peers' media would go to a third party.
    a.reportPipes([keyedEndpoint(PIPE_R1, '127.0.0.99:40000')]);
    proxy.send({
      rooms: { sentAtMs: Date.now(), rooms: [{ room: 'r1', peers: 1, producers: 0 }] },
    });
    proxy.send({ pipes: { sentAtMs: Date.now(), endpoints: [] } });
    await waitFor(
      async () => ((await metric(pipes, 'not_signaling')) > before.proxyPipes ? true : undefined),
      5_000,
      () => 'the proxy PipeEndpoints counted',
    );
    assert.equal(await metric(rooms, 'too_many'), before.tooMany + 1);
    assert.equal(await metric(rooms, 'bad_room'), before.badRoom + 1);
    assert.equal(await metric(rooms, 'not_signaling'), before.notSignaling + 1);
    assert.equal(await metric(pipes, 'not_own_pipe'), before.notOwn + 1);
    assert.equal(await metric(pipes, 'bad_key'), before.badKey + 1);
    assert.equal(await metric(pipes, 'bad_suite'), before.badSuite + 1);
    assert.equal(await metric(pipes, 'bad_pipe_id'), before.badId + 1, 'ends out of order');
    assert.equal(await metric(pipes, 'bad_address'), before.badAddress + 1, 'an unregistered host');
    assert.equal(a.ended, false, 'the stream stays');
    assert.deepEqual(a.pipes().get(PIPE_R1), held, 'the previous sets stay in force');
    const view = (await getJson<RoomsView>(admin('/rooms'))).body;
    assert.deepEqual(
      view.rooms.map(({ room }) => room),
      ['r1', 'r2'],
      'no room of a dropped set',
    );
  });

  it('a node that stops reporting r1 loses the PIPE, at both ends', async () => {
    b.reportRooms([]);
    await waitFor(
      () => (!a.pipes().has(PIPE_R1) && !b.pipes().has(PIPE_R1) ? true : undefined),
      5_000,
      () => 'PIPE r1 withdrawn from both ends',
    );
    const view = (await getJson<PipesView>(admin('/pipes'))).body;
    assert.deepEqual(view.pipes, []);
    // sig-a still reports r1: its home stays.
    assert.ok(a.held.has('PLACEMENT/room/r1'));
  });

  it('a stale node’s rooms move to the others, for node_failed', async () => {
    const rooms = Array.from({ length: 12 }, (_, i) => ({ room: `k${i}`, peers: 1, producers: 0 }));
    for (const node of [a, b, c]) node.reportRooms(rooms);
    const placed = await waitFor(
      async () => {
        const view = await roomPlacements();
        const ks = view.placements.filter(({ key }) => key.startsWith('room/k'));
        return ks.length === rooms.length ? ks : undefined;
      },
      5_000,
      () => 'the k rooms placed',
    );
    const counts = new Map<string, number>();
    for (const { node } of placed) counts.set(node, (counts.get(node) ?? 0) + 1);
    const [victimId] = [...counts].sort((x, y) => y[1] - x[1])[0] ?? [];
    assert.ok(victimId !== undefined);
    const victim = [a, b, c].find((node) => node.options.id === victimId);
    assert.ok(victim);
    const moved = placed.filter(({ node }) => node === victimId).map(({ key }) => key);
    victim.close();
    const after = await waitFor(
      async () => {
        const view = await roomPlacements();
        const now = view.placements.filter(({ key }) => moved.includes(key));
        return now.every(({ node }) => node !== victimId) && now.length === moved.length
          ? now
          : undefined;
      },
      5_000,
      () => `the rooms of ${victimId} moved`,
    );
    for (const placement of after) assert.equal(placement.reason, 'node_failed');
    const survivors = [a, b, c].filter((node) => node !== victim);
    await waitFor(
      () =>
        survivors.every((node) =>
          [...node.pipes().values()].every(
            (body) => body.a.node !== victimId && body.b.node !== victimId,
          ),
        )
          ? true
          : undefined,
      5_000,
      () => `no survivor holds a pipe with ${victimId}`,
    );
    await waitFor(
      () =>
        survivors.every((node) => !node.held.has(`SIGNALING_NODE/${victimId}`)) ? true : undefined,
      5_000,
      () => `${victimId} withdrawn from the directory`,
    );
  });
  it('streammesh drain of a signaling node: every node sees it draining, its rooms move (node_drained)', async () => {
    const live = [a, b, c].filter((node) => !node.ended && node.signalingNodeOf(node.options.id));
    const [drained, other] = live;
    assert.ok(drained && other, 'two nodes still up after the stale one');
    const placedBefore = (await roomPlacements()).placements;
    const homed = placedBefore
      .filter(({ node }) => node === drained.options.id)
      .map(({ key }) => key);
    assert.ok(homed.length > 0, 'bounded loads leave rooms on each of the two');
    const response = await fetch(admin(`/nodes/${drained.options.id}/drain`), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ deadlineSec: 60 }),
    });
    assert.equal(response.status, 202);
    await waitFor(
      () =>
        live.every((node) => node.signalingNodeOf(drained.options.id)?.draining === true)
          ? true
          : undefined,
      5_000,
      () => 'SIGNALING_NODE draining at every live node',
    );
    const after = await waitFor(
      async () => {
        const view = await roomPlacements();
        const now = view.placements.filter(({ key }) => homed.includes(key));
        return now.every(({ node }) => node !== drained.options.id) ? now : undefined;
      },
      5_000,
      () => `rooms off ${drained.options.id}`,
    );
    for (const placement of after) assert.equal(placement.reason, 'node_drained');
  });
});
