/**
 * A signaling node's side of issue 18 against a scripted MeshControl server
 * on 127.0.0.1 (the real gRPC service and the real MeshNode; the control
 * plane's part is played by the test, as the control plane's own PIPE
 * planning is not part of this module):
 * - after its Hello the node sends its whole room set and its whole pipe
 *   end set;
 * - it ACKs an update carrying SIGNALING_NODE, PIPE and room PLACEMENT
 *   resources beside its config, and holds them (pipes, signalingNodes,
 *   placements.nodeOf('room/<name>')); its pipe listeners are told;
 * - a burst of room changes gives one report at once and one at the end of
 *   the 50 ms interval, carrying the last set;
 * - its load reports carry producers, consumers and workerCpuCores (0 from
 *   a role that has none);
 * - after the stream is cut, the next Hello returns its PIPE and room
 *   PLACEMENT bodies, and both sets are sent again.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  parseConfigText,
  PIPE_SRTP_SUITE,
  pipeResource,
  pipeResourceName,
  placementResource,
  signalingNodeResource,
  splitConfig,
  type MeshConfig,
  type PipeBody,
} from '../../../src/config/index.js';
import { MeshNode, type LoadSource } from '../../../src/node-agent/index.js';
import { REPORT_COALESCE_MS } from '../../../src/node-agent/control-client.js';
import type { Hello, PipeEndpoint, RoomReport } from '../../../src/protocol/mesh/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { at } from '../../helpers/defined.js';
import { waitFor } from '../../helpers/process.js';
import { wire } from '../../helpers/resource-updates.js';
import { messagesOf, ScriptedControlPlane } from '../control-plane/scripted-control-plane.js';

const until = <T>(probe: () => T | undefined, what: string): Promise<T> =>
  waitFor(probe, 5_000, () => what);

function nodeConfig(role: 'signaling' | 'proxy', id: string, grpcAddress: string): MeshConfig {
  return parseConfigText(
    [
      'logLevel: silent',
      `controlPlane: { mtls: false, grpc: "${grpcAddress}" }`,
      `${role}: { id: ${id}, admin: "127.0.0.1:0" }`,
    ].join('\n'),
    'test',
  );
}

/** A load source with (or without) the SFU's figures. */
function loadSource(sfu: boolean): LoadSource {
  return {
    measure: () => ({
      packetsPerSecond: 100,
      bitrateBps: 1_000_000,
      sessions: 8,
      ...(sfu ? { producers: 3, consumers: 5, workerCpuCores: 0.25 } : {}),
    }),
    capacity: () => ({ sessions: 100, bitrateBps: 1e9, packetsPerSecond: 1e6 }),
  };
}

describe('a signaling node reports rooms and pipe ends, and holds pipes, peers and room homes', () => {
  let plane: ScriptedControlPlane;
  let node: MeshNode | undefined;
  let proxy: MeshNode | undefined;
  let config: MeshConfig;
  let rooms: RoomReport[] = [{ room: 'standup', peers: 2, producers: 1 }];
  let endpoints: PipeEndpoint[] = [];
  const pipeChanges: string[][] = [];
  let pipe: PipeBody;

  before(async () => {
    plane = new ScriptedControlPlane({ placesSessions: true });
    await plane.listen();
    config = nodeConfig('signaling', 'sig-a', plane.address);
  });

  after(async () => {
    await node?.close();
    await proxy?.close();
    plane.close();
  });

  it('sends both sets after its Hello, and ACKs and holds SIGNALING_NODE, PIPE and room PLACEMENT', async () => {
    node = new MeshNode({
      role: 'ROLE_SIGNALING',
      roleName: 'signaling',
      config,
      section: config.signaling,
      capabilities: ['signaling'],
      log: createLogger('signaling', 'silent'),
      load: loadSource(true),
      rooms: () => rooms,
      pipeEndpoints: () => endpoints,
    });
    node.pipes.onChange((pipes) => pipeChanges.push([...pipes.keys()]));
    await node.start();
    const stream = await until(() => plane.streams[0], 'a resource stream');
    await until(() => messagesOf(stream, 'pipes')[0], 'the pipe end set after the Hello');
    assert.deepEqual(
      stream.messages.map(({ kind }) => kind),
      ['hello', 'rooms', 'pipes'],
      'the Hello first, then both whole sets',
    );
    assert.deepEqual(messagesOf(stream, 'rooms')[0]?.rooms.rooms, rooms);
    assert.deepEqual(messagesOf(stream, 'pipes')[0]?.pipes.endpoints, []);

    pipe = {
      pipeId: pipeResourceName('standup', 'sig-a', 'sig-b'),
      room: 'standup',
      a: { node: 'sig-a', identity: null },
      b: {
        node: 'sig-b',
        identity: null,
        address: '127.0.0.12:40000',
        srtp: { cryptoSuite: PIPE_SRTP_SUITE, keyBase64: randomBytes(44).toString('base64') },
      },
    };
    const pushed = [
      ...splitConfig(config).map(wire),
      wire(
        signalingNodeResource({
          node: 'sig-b',
          identity: null,
          url: 'http://127.0.0.12:8443',
          link: '127.0.0.12:8444',
          draining: false,
        }),
      ),
      wire(pipeResource(pipe)),
      wire(
        placementResource('room/standup', {
          node: 'sig-b',
          since: '2026-12-05T07:00:00.000Z',
          reason: 'placed',
        }),
      ),
    ];
    stream.call.write({ nonce: '1', systemVersion: 'sv1', resources: pushed, removed: [] });
    const ack = await until(() => messagesOf(stream, 'ack')[0], 'the ACK');
    const applied = new Set(ack.ack.applied.map(({ type, name }) => `${type}/${name}`));
    for (const name of ['SIGNALING_NODE/sig-b', `PIPE/${pipe.pipeId}`, 'PLACEMENT/room/standup']) {
      assert.ok(applied.has(name), `${name} acknowledged`);
    }
    assert.deepEqual(node.pipes.get(pipe.pipeId), pipe);
    assert.equal(node.signalingNodes.get('sig-b')?.link, '127.0.0.12:8444');
    assert.equal(node.placements.nodeOf('room/standup'), 'sig-b');
    assert.deepEqual(pipeChanges, [[pipe.pipeId]], 'the pipe listener was told');
  });

  it('coalesces a burst of room changes: one report at once, one at the interval end with the last set', async () => {
    assert.ok(node !== undefined);
    const stream = plane.streams[0];
    // An interval after the last report, so the burst's first change goes at once.
    await new Promise((resolve) => setTimeout(resolve, 2 * REPORT_COALESCE_MS));
    const before = messagesOf(stream, 'rooms').length;
    const started = Date.now();
    for (let peers = 3; peers <= 12; peers += 1) {
      rooms = [{ room: 'standup', peers, producers: 1 }];
      node.roomsChanged();
    }
    await until(
      () => (messagesOf(stream, 'rooms').length >= before + 2 ? true : undefined),
      'two reports',
    );
    // Twice the interval: any further report of the burst would have come by then.
    await new Promise((resolve) => setTimeout(resolve, 2 * REPORT_COALESCE_MS));
    const reports = messagesOf(stream, 'rooms').slice(before);
    assert.equal(reports.length, 2, 'ten changes, two reports');
    assert.equal(reports[0]?.rooms.rooms[0]?.peers, 3, 'the first at once');
    assert.deepEqual(reports[1]?.rooms.rooms, rooms, 'the last one carries the last set');
    assert.ok(
      at(reports, 1).rooms.sentAtMs - at(reports, 0).rooms.sentAtMs >= REPORT_COALESCE_MS - 5,
      'an interval apart',
    );
    assert.ok(Date.now() - started < 2_000);
  });

  it('reports its pipe ends when they change', async () => {
    assert.ok(node !== undefined);
    const stream = plane.streams[0];
    endpoints = [
      {
        pipeId: pipe.pipeId,
        address: '127.0.0.11:40000',
        srtpCryptoSuite: PIPE_SRTP_SUITE,
        srtpKeyBase64: randomBytes(44).toString('base64'),
      },
    ];
    await new Promise((resolve) => setTimeout(resolve, 2 * REPORT_COALESCE_MS));
    const before = messagesOf(stream, 'pipes').length;
    node.pipeEndpointsChanged();
    const report = await until(() => messagesOf(stream, 'pipes')[before], 'the pipe end report');
    assert.deepEqual(report.pipes.endpoints, endpoints);
  });

  it('reports producers, consumers and worker CPU in its load; 0 from a role without them', async () => {
    const load = await until(() => messagesOf(plane.streams[0], 'load')[0], 'a load report');
    assert.equal(load.load.producers, 3);
    assert.equal(load.load.consumers, 5);
    assert.equal(load.load.workerCpuCores, 0.25);

    const proxyConfig = nodeConfig('proxy', 'proxy-a', plane.address);
    const start = plane.streams.length;
    proxy = new MeshNode({
      role: 'ROLE_PROXY',
      roleName: 'proxy',
      config: proxyConfig,
      section: proxyConfig.proxy,
      capabilities: [],
      log: createLogger('proxy', 'silent'),
      load: loadSource(false),
    });
    await proxy.start();
    const proxyLoad = await until(
      () => messagesOf(plane.streams[start], 'load')[0],
      'a proxy load report',
    );
    assert.equal(proxyLoad.load.sessions, 8);
    assert.equal(proxyLoad.load.producers, 0);
    assert.equal(proxyLoad.load.consumers, 0);
    assert.equal(proxyLoad.load.workerCpuCores, 0);
    assert.deepEqual(
      messagesOf(plane.streams[start], 'rooms'),
      [],
      'a node without rooms sends none',
    );
    assert.deepEqual(messagesOf(plane.streams[start], 'pipes'), []);
    await proxy.close();
    proxy = undefined;
  });

  it('after the stream is cut, the next Hello returns its PIPE and room PLACEMENT bodies, then both sets', async () => {
    assert.ok(node !== undefined);
    const first = plane.streams[0];
    assert.ok(first !== undefined);
    const start = plane.streams.length;
    first.call.end();
    const second = await until(() => plane.streams[start], 'the node reconnects');
    await until(() => messagesOf(second, 'pipes')[0], 'the pipe end set after the second Hello');
    assert.deepEqual(
      second.messages.slice(0, 3).map(({ kind }) => kind),
      ['hello', 'rooms', 'pipes'],
    );
    const hello: Hello | undefined = messagesOf(second, 'hello')[0]?.hello;
    const returned = new Map((hello?.placements ?? []).map((r) => [`${r.type}/${r.name}`, r]));
    const held = returned.get(`PIPE/${pipe.pipeId}`);
    assert.ok(held !== undefined, 'the PIPE returned');
    assert.deepEqual(JSON.parse(held.bodyJson) as PipeBody, pipe, 'with its body, keys included');
    assert.ok(returned.has('PLACEMENT/room/standup'), 'the room placement returned');
    assert.ok(!returned.has('SIGNALING_NODE/sig-b'), 'signaling nodes are not returned');
    assert.deepEqual(messagesOf(second, 'rooms')[0]?.rooms.rooms, rooms, 'the current room set');
    assert.deepEqual(
      messagesOf(second, 'pipes')[0]?.pipes.endpoints,
      endpoints,
      'the current pipe ends',
    );
  });
});
