/**
 * The doors (signaling/server/door.ts) as a table: a request for a room at
 * node `b`, with the room's home, this node's state and the directory, and
 * what each door decides. Every row changes one fact from a neighbour, so a
 * row that fails names the fact the decision stopped honouring.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  doorsOf,
  httpDoor,
  redirectLocation,
  websocketDoor,
  websocketUrlOf,
  type DoorDecision,
  type DoorFacts,
  type DoorNode,
} from '../../../signaling/server/door.js';

const url = (node: string): string => `http://${node}.test:8443`;
const node = (id: string, draining = false): DoorNode => ({ node: id, url: url(id), draining });

const BASE: DoorFacts = {
  here: 'b',
  drainingHere: false,
  overloadedHere: false,
  localPeers: 0,
  maxPeersPerNode: 2,
  home: 'a',
  // Not in id order: the door sorts.
  nodes: [node('c'), node('b'), node('a')],
};

const serve: DoorDecision = { kind: 'serve' };
const to = (id: string): DoorDecision => ({ kind: 'redirect', node: id, url: url(id) });

interface Row {
  readonly name: string;
  readonly facts: Partial<DoorFacts>;
  readonly websocket: DoorDecision;
  readonly http: DoorDecision;
  /** With httpRedirect off. */
  readonly httpOff: DoorDecision;
}

const rows: Row[] = [
  {
    name: 'room homed elsewhere, room here',
    facts: {},
    websocket: serve,
    http: to('a'),
    httpOff: serve,
  },
  {
    name: 'room homed here',
    facts: { home: 'b' },
    websocket: serve,
    http: serve,
    httpOff: serve,
  },
  {
    name: 'room not placed yet',
    facts: { home: undefined },
    websocket: serve,
    http: serve,
    httpOff: serve,
  },
  {
    name: 'home unknown to the directory',
    facts: { home: 'z' },
    websocket: serve,
    http: serve,
    httpOff: serve,
  },
  {
    name: 'home drains',
    facts: { nodes: [node('a', true), node('b'), node('c')] },
    websocket: serve,
    http: serve,
    httpOff: serve,
  },
  {
    name: 'full here: the home',
    facts: { localPeers: 2 },
    websocket: to('a'),
    http: to('a'),
    httpOff: serve,
  },
  {
    name: 'full here, homed here: the first other node by id',
    facts: { localPeers: 2, home: 'b' },
    websocket: to('a'),
    http: serve,
    httpOff: serve,
  },
  {
    name: 'full here, home drains: the first other open node',
    facts: { localPeers: 3, nodes: [node('a', true), node('b'), node('c')] },
    websocket: to('c'),
    http: serve,
    httpOff: serve,
  },
  {
    name: 'full here, every other node drains',
    facts: { localPeers: 2, nodes: [node('a', true), node('b'), node('c', true)] },
    websocket: { kind: 'refuse', reason: 'full' },
    http: serve,
    httpOff: serve,
  },
  {
    name: 'draining here: the home',
    facts: { drainingHere: true },
    websocket: to('a'),
    http: to('a'),
    httpOff: serve,
  },
  {
    name: 'draining here, homed here: the first other open node',
    facts: { drainingHere: true, home: 'b', nodes: [node('c'), node('b', true), node('a', true)] },
    websocket: to('c'),
    http: to('c'),
    httpOff: serve,
  },
  {
    name: 'draining here, room not placed: the first other node by id',
    facts: { drainingHere: true, home: undefined },
    websocket: to('a'),
    http: to('a'),
    httpOff: serve,
  },
  {
    name: 'draining here, alone',
    facts: { drainingHere: true, nodes: [node('b', true)] },
    websocket: { kind: 'refuse', reason: 'draining' },
    http: serve,
    httpOff: serve,
  },
  {
    name: 'overloaded here: a join goes to the home',
    facts: { overloadedHere: true },
    websocket: to('a'),
    http: to('a'),
    httpOff: serve,
  },
  {
    name: 'overloaded here, homed here: served (overload is soft; no other node is asked)',
    facts: { overloadedHere: true, home: 'b' },
    websocket: serve,
    http: serve,
    httpOff: serve,
  },
  {
    name: 'overloaded here, home drains: served, not sent to another node',
    facts: { overloadedHere: true, nodes: [node('a', true), node('b'), node('c')] },
    websocket: serve,
    http: serve,
    httpOff: serve,
  },
  {
    name: 'overloaded here, room not placed: served',
    facts: { overloadedHere: true, home: undefined },
    websocket: serve,
    http: serve,
    httpOff: serve,
  },
  {
    name: 'overloaded and full here, homed here: the first other node by id',
    facts: { overloadedHere: true, localPeers: 2, home: 'b' },
    websocket: to('a'),
    http: serve,
    httpOff: serve,
  },
  {
    name: 'outside a directory (no nodes), full',
    facts: { localPeers: 2, nodes: [], home: undefined },
    websocket: { kind: 'refuse', reason: 'full' },
    http: serve,
    httpOff: serve,
  },
];

describe('door', () => {
  for (const row of rows) {
    it(row.name, () => {
      const facts = { ...BASE, ...row.facts };
      assert.deepEqual(websocketDoor(facts), row.websocket, 'WebSocket join');
      assert.deepEqual(httpDoor(facts, true), row.http, 'WHIP/WHEP, httpRedirect on');
      assert.deepEqual(httpDoor(facts, false), row.httpOff, 'WHIP/WHEP, httpRedirect off');
    });
  }

  it('never sends a request to the node it came to', () => {
    for (const row of rows) {
      for (const decision of [
        websocketDoor({ ...BASE, ...row.facts }),
        httpDoor({ ...BASE, ...row.facts }, true),
      ]) {
        if (decision.kind === 'redirect') assert.notEqual(decision.node, BASE.here, row.name);
      }
    }
  });

  it('sends an overloaded join one hop at most: the home serves it, however busy', () => {
    for (const row of rows) {
      const facts = { ...BASE, ...row.facts };
      if (!facts.overloadedHere || facts.drainingHere) continue;
      if (facts.localPeers >= facts.maxPeersPerNode) continue;
      const decision = websocketDoor(facts);
      if (decision.kind !== 'redirect') continue;
      assert.equal(decision.node, facts.home, row.name);
      assert.deepEqual(websocketDoor({ ...facts, here: decision.node }), serve, row.name);
    }
  });

  it('sends a POST one hop at most: the node it is sent to serves it', () => {
    for (const row of rows) {
      const facts = { ...BASE, ...row.facts };
      const decision = httpDoor(facts, true);
      if (decision.kind !== 'redirect') continue;
      // There, the room's members are that node's: any count, even full. The
      // target is open (the door sends nowhere else), and the directory
      // there says what it says here, this node draining if it is.
      const nodes = facts.nodes.map((entry) =>
        entry.node === facts.here && facts.drainingHere ? { ...entry, draining: true } : entry,
      );
      for (const localPeers of [0, facts.maxPeersPerNode]) {
        assert.deepEqual(
          httpDoor({ ...facts, here: decision.node, drainingHere: false, nodes, localPeers }, true),
          serve,
          row.name,
        );
      }
    }
  });

  it('lists the doors a join answer carries: other open nodes, the home first', () => {
    const ws = (id: string): string => `ws://${id}.test:8443/ws`;
    assert.deepEqual(doorsOf({ ...BASE, home: 'c' }), [ws('c'), ws('a')]);
    assert.deepEqual(doorsOf(BASE), [ws('a'), ws('c')]);
    assert.deepEqual(doorsOf({ ...BASE, nodes: [node('a', true), node('b'), node('c')] }), [
      ws('c'),
    ]);
    assert.deepEqual(doorsOf({ ...BASE, nodes: [node('b')] }), []);
  });

  it('derives the WebSocket URL from a node’s public URL', () => {
    assert.equal(websocketUrlOf('http://127.0.0.21:8443'), 'ws://127.0.0.21:8443/ws');
    assert.equal(websocketUrlOf('https://sfu.example/'), 'wss://sfu.example/ws');
    assert.equal(websocketUrlOf('https://edge.example/sfu-a/'), 'wss://edge.example/sfu-a/ws');
    assert.equal(websocketUrlOf('http://[::1]:9000?x=1'), 'ws://[::1]:9000/ws');
  });

  it('keeps the request’s path and query under the node’s URL', () => {
    assert.equal(
      redirectLocation('http://127.0.0.21:8443', '/whep/rooms/r1/alice?jwt=abc'),
      'http://127.0.0.21:8443/whep/rooms/r1/alice?jwt=abc',
    );
    assert.equal(
      redirectLocation('https://edge.example/sfu-a/', '/whip/r1'),
      'https://edge.example/sfu-a/whip/r1',
    );
  });
});
