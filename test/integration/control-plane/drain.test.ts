/**
 * Drain, control plane side (issue 16, item 5), over real gRPC and HTTP: a
 * control plane started in this process (startControlPlane) and three
 * scripted proxies (no media plane: what is under test is what the control
 * plane decides and sends).
 *
 * - POST /nodes/<id>/drain: 401 without the token, 404 for a node never or
 *   no longer registered, 400 for a bad body; with the token, 202 and the
 *   deadline. The drained proxy's cameras move to the other two with the
 *   reason node_drained, the drained proxy is sent drainDeadlineMs (the
 *   deadline), the others 0 in every update, GET /nodes shows the drain, and
 *   a camera added afterwards is not placed on it.
 * - The drained proxy registering again as a new process is no longer
 *   draining, and is told so (drainDeadlineMs 0).
 * - A node's own DrainRequest: one in the past or more than an hour ahead
 *   is counted by reason and changes nothing, the stream stays; a good one
 *   drains the node as the admin route does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunningControlPlane } from '../../../src/control-plane/index.js';
import type { PlacementsView } from '../../../src/control-plane/placement/index.js';
import { bearer, newAdminToken } from '../../helpers/admin-token.js';
import { getJson, getText } from '../../helpers/http.js';
import { waitFor } from '../../helpers/process.js';
import {
  freePlanePorts,
  scriptedPlaneConfigText,
  startScriptedPlane,
  type PlanePorts,
} from './scripted-plane.js';
import { ScriptedProxy } from './scripted-proxy.js';

const HEARTBEAT_MS = 200;
const GRACE_MS = 1_500;
const CAMERAS = 12;

/** The proxy section with `cameras` RTSP paths, each a key to place. */
function cameraLines(cameras: number): string[] {
  return [
    'proxy:',
    '  rtsp:',
    '    paths:',
    ...Array.from(
      { length: cameras },
      (_, index) => `      cam${index}: { source: "rtsp://127.0.0.1:9/cam${index}" }`,
    ),
  ];
}

interface NodeView {
  readonly id: string;
  readonly state: string;
  readonly draining: { readonly since: string; readonly deadline: string } | null;
}

describe('drain, control plane side', () => {
  const token = newAdminToken();
  let plane: RunningControlPlane;
  let grpcAddress: string;
  let adminUrl: string;
  let ports: PlanePorts;
  let a: ScriptedProxy;
  let b: ScriptedProxy;
  let c: ScriptedProxy;

  const post = async (path: string, body: string, authorized = true) => {
    const response = await fetch(`${adminUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorized ? bearer(token) : {}) },
      body,
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const placements = async (): Promise<PlacementsView> =>
    (await getJson<PlacementsView>(`${adminUrl}/placements`)).body;
  const nodes = async (): Promise<NodeView[]> =>
    (await getJson<{ nodes: NodeView[] }>(`${adminUrl}/nodes`)).body.nodes;
  const keysOf = (view: PlacementsView, node: string): string[] =>
    view.placements.filter((placement) => placement.node === node).map(({ key }) => key);
  const badDrains = async (reason: string): Promise<number> => {
    const { text } = await getText(`${adminUrl}/metrics`);
    const pattern = new RegExp(
      `^streammesh_control_plane_bad_drain_requests_total\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)$`,
      'm',
    );
    return Number(pattern.exec(text)?.[1] ?? 0);
  };
  const scripted = (id: string): ScriptedProxy =>
    new ScriptedProxy({
      id,
      grpc: grpcAddress,
      hopAddress: '127.0.0.1:9',
      heartbeatIntervalMs: HEARTBEAT_MS,
    });

  before(async () => {
    ports = await freePlanePorts();
    grpcAddress = `127.0.0.1:${ports.grpc}`;
    adminUrl = `http://127.0.0.1:${ports.admin}`;
    plane = await startScriptedPlane({
      ports,
      heartbeatIntervalMs: HEARTBEAT_MS,
      more: cameraLines(CAMERAS),
      token,
      placementGraceMs: GRACE_MS,
    });
    a = scripted('proxy-a');
    b = scripted('proxy-b');
    c = scripted('proxy-c');
    await Promise.all([a.connect(), b.connect(), c.connect()]);
    await waitFor(
      async () => {
        const view = await placements();
        return !view.restoring && view.placements.length === CAMERAS ? view : undefined;
      },
      10_000,
      () => 'every camera placed',
    );
  });

  after(async () => {
    a.close();
    b.close();
    c.close();
    await plane.close();
  });

  it('refuses a drain without the token, for an unknown node, or with a bad body', async () => {
    assert.equal((await post('/nodes/proxy-a/drain', '{}', false)).status, 401);
    const unknown = await post('/nodes/proxy-nobody/drain', '{}');
    assert.equal(unknown.status, 404);
    assert.equal(typeof unknown.body['error'], 'string');
    for (const body of [
      '{"deadlineSec": 0}',
      '{"deadlineSec": 3601}',
      '{"deadlineSec": "60"}',
      '{"deadline": 60}',
      'not json',
      '[]',
    ]) {
      const answer = await post('/nodes/proxy-a/drain', body);
      assert.equal(answer.status, 400, body);
      assert.equal(typeof answer.body['error'], 'string', body);
    }
    assert.ok(
      (await nodes()).every((node) => node.draining === null),
      'no refused request drained anything',
    );
  });

  it("moves a drained proxy's cameras to the others (node_drained) and tells only it", async () => {
    const before = await placements();
    const moving = keysOf(before, 'proxy-a');
    assert.ok(moving.length > 0, 'proxy-a carries cameras before the drain');
    const updatesBefore = { b: b.updates.length };

    const sentAt = Date.now();
    const answer = await post('/nodes/proxy-a/drain', '{"deadlineSec": 30}');
    assert.equal(answer.status, 202);
    assert.equal(answer.body['node'], 'proxy-a');
    const deadlineMs = Date.parse(String(answer.body['deadline']));
    assert.ok(deadlineMs >= sentAt + 30_000 && deadlineMs <= Date.now() + 30_000);

    const after = await waitFor(
      async () => {
        const view = await placements();
        return keysOf(view, 'proxy-a').length === 0 ? view : undefined;
      },
      5_000,
      () => 'proxy-a left with no camera',
    );
    for (const key of moving) {
      const placement = after.placements.find((entry) => entry.key === key);
      assert.ok(placement !== undefined, key);
      assert.ok(['proxy-b', 'proxy-c'].includes(placement.node), `${key} on ${placement.node}`);
      assert.equal(placement.reason, 'node_drained', key);
    }
    // Cameras that were elsewhere stayed where they were.
    for (const placement of before.placements.filter(({ node }) => node !== 'proxy-a')) {
      assert.equal(after.placements.find(({ key }) => key === placement.key)?.node, placement.node);
    }

    await waitFor(
      () =>
        a.updates.some(({ update }) => update.drainDeadlineMs === deadlineMs) ? true : undefined,
      5_000,
      () => 'proxy-a told its deadline',
    );
    // The others were sent the moved cameras, and never a drain.
    await waitFor(
      () => (b.updates.length > updatesBefore.b ? true : undefined),
      5_000,
      () => 'proxy-b told of the moved cameras',
    );
    assert.ok(b.updates.every(({ update }) => update.drainDeadlineMs === 0));
    assert.ok(c.updates.every(({ update }) => update.drainDeadlineMs === 0));

    const shown = (await nodes()).find((node) => node.id === 'proxy-a');
    assert.equal(shown?.draining?.deadline, new Date(deadlineMs).toISOString());
    assert.ok(Date.parse(shown.draining.since) >= sentAt - 1_000);
    assert.equal((await nodes()).find((node) => node.id === 'proxy-b')?.draining, null);

    // A camera added now goes to a proxy that is not draining.
    const put = await fetch(`${adminUrl}/config`, {
      method: 'PUT',
      headers: bearer(token),
      body: scriptedPlaneConfigText(ports, HEARTBEAT_MS, cameraLines(CAMERAS + 1)),
    });
    assert.equal(put.status, 200);
    const added = await waitFor(
      async () => (await placements()).placements.find(({ key }) => key === `camera/cam${CAMERAS}`),
      5_000,
      () => 'the added camera placed',
    );
    assert.notEqual(added.node, 'proxy-a');
  });

  it('ends the drain of a proxy that registers again as a new process, and tells it', async () => {
    a.close();
    await waitFor(
      async () =>
        (await nodes()).find((node) => node.id === 'proxy-a')?.state === 'disconnected'
          ? true
          : undefined,
      5_000,
      () => 'proxy-a disconnected',
    );
    a = scripted('proxy-a');
    await a.connect();
    await waitFor(
      async () =>
        (await nodes()).find((node) => node.id === 'proxy-a')?.draining === null ? true : undefined,
      5_000,
      () => 'proxy-a no longer draining',
    );
    await waitFor(
      () => (a.updates.length > 0 ? true : undefined),
      5_000,
      () => 'the restarted proxy-a sent its first update',
    );
    assert.ok(a.updates.every(({ update }) => update.drainDeadlineMs === 0));
  });

  it('counts a bad DrainRequest and keeps the stream; a good one drains the node', async () => {
    const pastBefore = await badDrains('past');
    const farBefore = await badDrains('too_far');
    c.drain(Date.now() - 1_000);
    c.drain(Date.now() + 2 * 60 * 60_000);
    await waitFor(
      async () =>
        (await badDrains('past')) === pastBefore + 1 &&
        (await badDrains('too_far')) === farBefore + 1
          ? true
          : undefined,
      5_000,
      () => 'both refusals counted',
    );
    const shown = (await nodes()).find((node) => node.id === 'proxy-c');
    assert.equal(shown?.draining, null);
    assert.equal(shown.state, 'connected');

    const moving = keysOf(await placements(), 'proxy-c');
    assert.ok(moving.length > 0, 'proxy-c carries cameras before its drain');
    const deadlineMs = Date.now() + 20_000;
    c.drain(deadlineMs);
    const after = await waitFor(
      async () => {
        const view = await placements();
        return keysOf(view, 'proxy-c').length === 0 ? view : undefined;
      },
      5_000,
      () => 'proxy-c left with no camera',
    );
    for (const key of moving) {
      const placement = after.placements.find((entry) => entry.key === key);
      assert.equal(placement?.reason, 'node_drained', key);
      assert.notEqual(placement.node, 'proxy-c');
    }
    // On the stream that carried the refused requests.
    await waitFor(
      () =>
        c.updates.some(({ update }) => update.drainDeadlineMs === deadlineMs) ? true : undefined,
      5_000,
      () => 'proxy-c told its deadline',
    );
    assert.equal(
      (await nodes()).find((node) => node.id === 'proxy-c')?.draining?.deadline,
      new Date(deadlineMs).toISOString(),
    );
  });
});
