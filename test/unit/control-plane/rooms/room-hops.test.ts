/**
 * GET /rooms/<room>/hops from stats report fixtures: a pipe hop takes loss,
 * jitter and packets from the receiving end and the worse round trip of the
 * two ends; publishers and viewers per node; and a report is the node's
 * word: bad entries are skipped, a node speaks only for pipes it is an end
 * of, other rooms and non-members are not read, and nothing throws.
 * (Real reports end to end: test/integration/signaling/cascade-hops.test.ts.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { roomHopsView, type RoomHopsInput } from '../../../../src/control-plane/rooms/room-hops.js';
import type { PipeView } from '../../../../src/control-plane/rooms/index.js';
import type { NodeStatsView } from '../../../../src/control-plane/registry/index.js';

const ROOM = 'r1';
const PIPE_ID = 'pipe/r1/a~b';

function pipe(a: string, b: string, room = ROOM): PipeView {
  const end = (node: string): PipeView['a'] => ({
    node,
    identity: null,
    address: '127.0.0.1:40000',
    keyed: true,
  });
  return {
    pipeId: `pipe/${room}/${a}~${b}`,
    room,
    a: end(a),
    b: end(b),
    since: '2026-12-05T08:00:00.000Z',
    state: 'active',
  };
}

function report(id: string, stats: unknown, role: NodeStatsView['role'] = 'ROLE_SIGNALING') {
  return {
    id,
    role,
    state: 'connected',
    sentAt: '2026-12-05T08:00:00.000Z',
    receivedAt: '2026-12-05T08:00:00.000Z',
    stats,
  } satisfies NodeStatsView;
}

/** A pipe stream entry as signaling/stats writes it (JSON: undefined fields absent). */
function pipeStream(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    id: 'p1',
    producerId: 'p1',
    direction: 'in',
    room: ROOM,
    pipeId: PIPE_ID,
    remoteNode: 'a',
    kind: 'video',
    bitrateBps: 1000,
    packets: 0,
    packetsLost: 0,
    fractionLost: 0,
    ...fields,
  };
}

function stream(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    id: 'x',
    direction: 'in',
    room: ROOM,
    peer: 'alice',
    kind: 'video',
    mimeType: 'video/VP8',
    bitrateBps: 0,
    packets: 0,
    packetsLost: 0,
    fractionLost: 0,
    score: 10,
    nackCount: 0,
    pliCount: 0,
    firCount: 0,
    ...fields,
  };
}

/** alice publishes two producers on a; bob views them on b through the pipe a~b. */
function twoNodes(): RoomHopsInput {
  return {
    room: ROOM,
    home: 'a',
    shares: [
      { node: 'a', peers: 1, producers: 2 },
      { node: 'b', peers: 1, producers: 0 },
    ],
    pipes: [pipe('a', 'b')],
    reports: [
      report('a', {
        rooms: [{ room: ROOM, peers: 1, producers: 2, consumers: 0 }],
        streams: [
          stream({ id: 'p1', packets: 300, jitterSeconds: 0.004, roundTripTimeSeconds: 0.02 }),
          stream({ id: 'p2', packets: 100, fractionLost: 0.1, kind: 'audio' }),
        ],
        pipes: [
          pipeStream({ id: 'c1', direction: 'out', remoteNode: 'b', packets: 290 }),
          pipeStream({
            id: 'c2',
            producerId: 'p2',
            direction: 'out',
            remoteNode: 'b',
            packets: 99,
            roundTripTimeSeconds: 0.003,
          }),
        ],
      }),
      report('b', {
        rooms: [{ room: ROOM, peers: 1, producers: 0, consumers: 2 }],
        streams: [
          stream({ id: 'v1', peer: 'bob', direction: 'out', packets: 280, producerId: 'p1' }),
          stream({ id: 'v2', peer: 'bob', direction: 'out', packets: 90, fractionLost: 0.5 }),
        ],
        pipes: [
          pipeStream({ packets: 285, fractionLost: 0.02, jitterSeconds: 0.001 }),
          pipeStream({
            id: 'p2',
            producerId: 'p2',
            packets: 95,
            jitterSeconds: 0.002,
            roundTripTimeSeconds: 0.001,
          }),
        ],
      }),
    ],
  };
}

describe('room hops view', () => {
  it('shows the pipe hop both ways with what each end measured, and the room around it', () => {
    const view = roomHopsView(twoNodes());
    assert.equal(view.room, ROOM);
    assert.equal(view.home, 'a');
    assert.deepEqual(view.nodes, [
      { node: 'a', peers: 1, producers: 2, consumers: 0 },
      { node: 'b', peers: 1, producers: 0, consumers: 2 },
    ]);
    assert.deepEqual(view.hops, [
      {
        from: 'a',
        to: 'b',
        kind: 'pipe',
        pipeId: PIPE_ID,
        producers: 2,
        // What arrived at b, not what a sent.
        packets: 285 + 95,
        lossFraction: 0.02,
        jitterMs: 2,
        // The worse of b's (1 ms) and a's (3 ms).
        rttMs: 3,
      },
      {
        from: 'b',
        to: 'a',
        kind: 'pipe',
        pipeId: PIPE_ID,
        producers: 0,
        packets: null,
        lossFraction: null,
        jitterMs: null,
        rttMs: null,
      },
    ]);
    assert.deepEqual(view.publishers, [
      {
        peer: 'alice',
        node: 'a',
        producers: 2,
        packets: 400,
        lossFraction: 0.1,
        jitterMs: 4,
        rttMs: 20,
      },
    ]);
    assert.deepEqual(view.viewers, [
      { peer: 'bob', node: 'b', consumers: 2, packets: 370, lossFraction: 0.5, rttMs: null },
    ]);
  });

  it("takes the sender's loss when the receiver reported nothing", () => {
    const input = twoNodes();
    const view = roomHopsView({
      ...input,
      reports: [
        report('a', {
          pipes: [
            pipeStream({ direction: 'out', remoteNode: 'b', packets: 10, fractionLost: 0.25 }),
          ],
        }),
      ],
    });
    const hop = view.hops[0];
    assert.ok(hop);
    assert.equal(hop.producers, 1);
    assert.equal(hop.packets, null, 'nothing is known to have arrived');
    assert.equal(hop.lossFraction, 0.25);
    assert.deepEqual(
      view.nodes.map((node) => node.consumers),
      [null, null],
    );
  });

  it('skips bad entries and never throws on a hostile report', () => {
    const bad: unknown[] = [
      null,
      7,
      'x',
      [],
      pipeStream({ packets: -1 }),
      pipeStream({ packets: Number.NaN }),
      pipeStream({ packets: '5' }),
      pipeStream({ fractionLost: 2 }),
      pipeStream({ jitterSeconds: 'slow' }),
      pipeStream({ roundTripTimeSeconds: -3 }),
      pipeStream({ direction: 'sideways' }),
      pipeStream({ pipeId: 5 }),
      pipeStream({ producerId: null }),
      pipeStream({ remoteNode: undefined }),
    ];
    const badStreams: unknown[] = [
      stream({ peer: '' }),
      stream({ peer: 3 }),
      stream({ packets: Infinity }),
      stream({ fractionLost: -0.1 }),
      stream({ direction: 1 }),
    ];
    const hostile: unknown[] = [
      null,
      'stats',
      [],
      { pipes: 'many', streams: {}, rooms: 4 },
      { pipes: bad, streams: badStreams, rooms: [{ room: ROOM, consumers: -2 }, null] },
    ];
    for (const stats of hostile) {
      const view = roomHopsView({ ...twoNodes(), reports: [report('b', stats)] });
      const hop = view.hops[0];
      assert.ok(hop);
      assert.equal(hop.producers, 0, JSON.stringify(stats));
      assert.equal(hop.packets, null);
      assert.deepEqual(view.publishers, []);
      assert.deepEqual(view.viewers, []);
      assert.equal(view.nodes[1]?.consumers, null);
    }
    // A good entry next to bad ones still counts.
    const view = roomHopsView({
      ...twoNodes(),
      reports: [report('b', { pipes: [...bad, pipeStream({ packets: 12 })] })],
    });
    assert.equal(view.hops[0]?.packets, 12);
  });

  it('reads a node only for its own pipe ends, this room and member nodes', () => {
    const input = twoNodes();
    const view = roomHopsView({
      ...input,
      reports: [
        // c is not in the room: its word about a~b is not read.
        report('c', { pipes: [pipeStream({ packets: 1_000_000 })] }),
        // b claims a pipe from c and a pipe the planner did not make.
        report('b', {
          pipes: [
            pipeStream({ remoteNode: 'c', packets: 1_000 }),
            pipeStream({ pipeId: 'pipe/r1/b~c', remoteNode: 'c', packets: 1_000 }),
            pipeStream({ room: 'r2', packets: 1_000 }),
            pipeStream({ packets: 7 }),
          ],
          streams: [stream({ room: 'r2', peer: 'mallory' })],
        }),
        // A proxy's report of the same shape is not a signaling node's.
        report('a', { pipes: [pipeStream({ direction: 'out', remoteNode: 'b' })] }, 'ROLE_PROXY'),
      ],
    });
    assert.deepEqual(
      view.hops.map((hop) => [hop.from, hop.to, hop.producers, hop.packets]),
      [
        ['a', 'b', 1, 7],
        ['b', 'a', 0, null],
      ],
    );
    assert.deepEqual(view.publishers, []);
  });

  it('has no hops for a room on one node, and no home when it has none', () => {
    const view = roomHopsView({
      room: ROOM,
      home: null,
      shares: [{ node: 'a', peers: 2, producers: 1 }],
      pipes: [],
      reports: [report('a', { streams: [stream({ packets: 5 })] })],
    });
    assert.equal(view.home, null);
    assert.deepEqual(view.hops, []);
    assert.equal(view.publishers[0]?.packets, 5);
  });
});
