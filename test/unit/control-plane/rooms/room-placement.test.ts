/**
 * RoomPlacement on a fake clock: a room is placed at its first report and
 * kept while any node reports it, released lingerMs after the last report,
 * moved off a draining node (node_drained) or a stale one (node_failed),
 * and rebuilt from signaling Hellos during the grace (newest `since` wins,
 * only `room/` keys). Proxies take no room. What nodes say is their word
 * (review findings 3, 4): one node reporting thousands of rooms gets at
 * most a fair share placed and another node's room still finds a home; a
 * Hello's `since` in the far future is refused, and a restored home whose
 * node does not report the room is placed again.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { fillOf } from '../../../../src/control-plane/placement/index.js';
import {
  MAX_RESTORED_SINCE_SKEW_MS,
  RoomPlacement,
  roomKey,
  signalingFillOf,
} from '../../../../src/control-plane/rooms/index.js';
import { roomsFixture, STALE_AFTER_MS, type Rooms } from './rooms-fixture.js';

const LINGER_MS = 10_000;

function placementOf(rooms: Rooms): RoomPlacement {
  return new RoomPlacement({
    store: rooms.store,
    registry: rooms.registry,
    membership: rooms.membership,
    clock: { now: () => rooms.clock.now },
    log: rooms.log,
    lingerMs: LINGER_MS,
    graceMs: 60_000,
  });
}

/** A node's report of `names`, one peer each. */
const report = (...names: string[]) => names.map((room) => ({ room, peers: 1, producers: 0 }));

/** `count` room names: `${prefix}0`, `${prefix}1`, ... */
const numbered = (count: number, prefix = 'r'): string[] =>
  Array.from({ length: count }, (_, i) => `${prefix}${i}`);

describe('RoomPlacement', () => {
  const started: RoomPlacement[] = [];
  const start = (rooms: Rooms): RoomPlacement => {
    const placement = placementOf(rooms);
    placement.start();
    started.push(placement);
    return placement;
  };
  /** Signaling nodes `ids` registered, and a RoomPlacement started over them (in its grace). */
  const startOver = (ids: readonly string[]): { rooms: Rooms; placement: RoomPlacement } => {
    const rooms = roomsFixture();
    for (const id of ids) rooms.join(id);
    return { rooms, placement: start(rooms) };
  };
  afterEach(() => {
    for (const placement of started.splice(0)) placement.close();
  });

  it('places a room at its first report, on a signaling node, once for all its nodes', () => {
    const rooms = roomsFixture();
    for (const id of ['sig-a', 'sig-b']) rooms.join(id);
    rooms.join('proxy-a', { role: 'ROLE_PROXY' });
    const placement = start(rooms);
    placement.endRestore();
    let changes = 0;
    placement.on('change', () => (changes += 1));
    rooms.membership.report('sig-a', report('r1'));
    const home = placement.homeOf('r1');
    assert.ok(home !== undefined && ['sig-a', 'sig-b'].includes(home.node));
    assert.equal(home.reason, 'placed');
    assert.equal(changes, 1, 'placed at once, one change');
    rooms.membership.report('sig-b', report('r1'));
    assert.deepEqual(placement.homeOf('r1'), home, 'a second member moves nothing');
    assert.deepEqual(
      placement.resources().map(({ type, name }) => `${type}/${name}`),
      ['PLACEMENT/room/r1'],
    );
    assert.ok(
      placement.view().nodes.every(({ id }) => id.startsWith('sig-')),
      'no proxy',
    );
  });

  it('keeps a room lingerMs after its last report, then releases it', () => {
    const { rooms, placement } = startOver(['sig-a']);
    placement.endRestore();
    rooms.membership.report('sig-a', report('r1'));
    rooms.membership.report('sig-a', []);
    const goneAt = rooms.clock.now;
    rooms.clock.now = goneAt + LINGER_MS - 1;
    rooms.heartbeat();
    placement.reconcile();
    assert.ok(placement.homeOf('r1'), 'kept while it lingers');
    rooms.membership.report('sig-a', report('r1'));
    rooms.membership.report('sig-a', []);
    const againAt = rooms.clock.now;
    rooms.clock.now = againAt + LINGER_MS - 1;
    rooms.heartbeat();
    placement.reconcile();
    assert.ok(placement.homeOf('r1'), 'a report restarts the linger');
    rooms.clock.now = againAt + LINGER_MS;
    rooms.heartbeat();
    placement.reconcile();
    assert.equal(placement.homeOf('r1'), undefined);
    assert.deepEqual(placement.resources(), []);
  });

  it('moves the rooms of a draining node (node_drained) and gives it no new one', () => {
    const { rooms, placement } = startOver(['sig-a', 'sig-b']);
    placement.endRestore();
    const names = numbered(20);
    rooms.membership.report('sig-a', report(...names));
    const onA = names.filter((room) => placement.homeOf(room)?.node === 'sig-a');
    assert.ok(onA.length > 0, 'bounded loads spread 20 rooms over both');
    rooms.registry.drain('sig-a', rooms.clock.now + 60_000);
    for (const room of onA) {
      assert.deepEqual(
        [placement.homeOf(room)?.node, placement.homeOf(room)?.reason],
        ['sig-b', 'node_drained'],
      );
    }
    rooms.membership.report('sig-b', report('new-room'));
    assert.equal(placement.homeOf('new-room')?.node, 'sig-b');
  });

  it('moves the rooms of a stale node (node_failed)', () => {
    const { rooms, placement } = startOver(['sig-a', 'sig-b', 'sig-c']);
    placement.endRestore();
    const names = numbered(30);
    for (const id of ['sig-a', 'sig-b', 'sig-c']) rooms.membership.report(id, report(...names));
    const onC = names.filter((room) => placement.homeOf(room)?.node === 'sig-c');
    assert.ok(onC.length > 0);
    rooms.clock.now += STALE_AFTER_MS + 1;
    rooms.registry.seen('sig-a');
    rooms.registry.seen('sig-b');
    placement.reconcile();
    for (const room of onC) {
      const home = placement.homeOf(room);
      assert.ok(home !== undefined && home.node !== 'sig-c', `${room} left sig-c`);
      assert.equal(home.reason, 'node_failed');
    }
    const stayed = names.filter((room) => !onC.includes(room));
    assert.ok(
      stayed.every((room) => placement.homeOf(room)?.reason === 'placed'),
      'others stay',
    );
  });

  it('counts the busiest worker’s CPU in a node’s fill: a saturated worker sheds rooms', () => {
    const { rooms, placement } = startOver(['sig-a', 'sig-b']);
    placement.endRestore();
    const names = numbered(20);
    rooms.membership.report('sig-a', report(...names));
    const onA = names.filter((room) => placement.homeOf(room)?.node === 'sig-a');
    assert.ok(onA.length > 0);
    const capacity = rooms.store.current.config.signaling.capacity;
    const light = { packetsPerSecond: 1, bitrateBps: 1, cpuCores: 0.1, sessions: 1, capacity };
    assert.equal(signalingFillOf({ ...light, workerCpuCores: 0.5 }), 0.5);
    assert.equal(signalingFillOf(light), fillOf(light), 'an older node: fill as before');
    rooms.registry.loaded('sig-a', {
      sentAt: new Date(rooms.clock.now).toISOString(),
      ...light,
      // What checkLoad passes on for a signaling node (the registry keeps it as sent).
      ...{ workerCpuCores: 1.5 },
    });
    placement.reconcile();
    const fillA = placement.view().nodes.find(({ id }) => id === 'sig-a')?.fill;
    assert.equal(fillA, 1.5);
    const moved = onA.filter((room) => placement.homeOf(room)?.node === 'sig-b');
    assert.ok(moved.length > 0, 'some rooms left the saturated node');
    for (const room of moved) assert.equal(placement.homeOf(room)?.reason, 'overloaded');
  });

  it('rebuilds from Hellos in the grace: newest since wins, room keys only', () => {
    const { rooms, placement } = startOver(['sig-a', 'sig-b']);
    assert.ok(placement.restoring);
    const older = { node: 'sig-a', since: '2026-12-05T07:00:00.000Z', reason: 'placed' as const };
    const newer = {
      node: 'sig-b',
      since: '2026-12-05T07:30:00.000Z',
      reason: 'node_drained' as const,
    };
    placement.reported('sig-a', [
      { key: roomKey('r1'), body: older },
      { key: 'camera/cam1', body: older },
    ]);
    placement.reported('sig-b', [{ key: roomKey('r1'), body: newer }]);
    placement.reported('sig-a', [{ key: roomKey('r1'), body: older }]);
    assert.deepEqual(placement.homeOf('r1'), newer, 'taken back exactly, the newest');
    assert.deepEqual(
      placement.resources().map(({ name }) => name),
      ['room/r1'],
    );
    rooms.membership.report('sig-a', report('r1'));
    rooms.membership.report('sig-b', report('r1'));
    placement.endRestore();
    assert.deepEqual(placement.homeOf('r1'), newer, 'the grace ends with nothing to move');
    placement.reported('sig-a', [{ key: roomKey('r2'), body: older }]);
    assert.equal(placement.homeOf('r2'), undefined, 'after the grace a Hello restores nothing');
  });

  it('places at most a fair share of one node’s rooms: another node’s room still gets a home', () => {
    const { rooms, placement } = startOver(['sig-a', 'sig-b', 'evil']);
    placement.endRestore();
    const { sessions } = rooms.store.current.config.signaling.capacity;
    // More rooms than the whole table holds (the push server's cap bypassed).
    rooms.membership.report('evil', report(...numbered(4 * sessions, 'flood-')));
    const view = placement.view();
    const fairShare = Math.ceil(view.nodes.reduce((sum, n) => sum + n.weight, 0) / 3);
    const placed = view.placements.filter(({ key }) => key.startsWith('room/flood-')).length;
    assert.equal(placed, fairShare, 'one node’s rooms fill its fair share, no more');
    // Fresh rooms while its last ones linger: still no more than the share.
    rooms.membership.report('evil', report(...numbered(4 * sessions, 'churn-flood-')));
    assert.equal(
      placement.view().placements.filter(({ key }) => key.startsWith('room/churn-')).length,
      0,
      'its lingering rooms still count against it',
    );
    rooms.membership.report('sig-a', report('legit-room'));
    assert.ok(placement.homeOf('legit-room') !== undefined, 'the honest room has a home');
    // A waiting room that an honest node reports too is placed on the honest node's share.
    const last = `churn-flood-${4 * sessions - 1}`;
    assert.equal(placement.homeOf(last), undefined);
    rooms.membership.report('sig-b', report(last));
    assert.ok(placement.homeOf(last) !== undefined);
  });

  it('refuses a restored since far in the future (a Hello claiming 2099)', () => {
    const { rooms, placement } = startOver(['sig-a', 'sig-b', 'evil']);
    const honest = { node: 'sig-a', since: '2026-12-05T07:00:00.000Z', reason: 'placed' as const };
    placement.reported('sig-a', [{ key: roomKey('board'), body: honest }]);
    placement.reported('evil', [
      {
        key: roomKey('board'),
        body: { node: 'evil', since: '2099-01-01T00:00:00.000Z', reason: 'placed' },
      },
    ]);
    assert.deepEqual(placement.homeOf('board'), honest, 'the future claim is refused');
    // Within the skew a later claim still wins (clocks differ).
    const skewed = new Date(rooms.clock.now + MAX_RESTORED_SINCE_SKEW_MS).toISOString();
    placement.reported('sig-b', [
      { key: roomKey('board'), body: { node: 'sig-b', since: skewed, reason: 'placed' } },
    ]);
    assert.equal(placement.homeOf('board')?.node, 'sig-b');
  });

  it('places again a restored home whose node does not report the room by the end of the grace', () => {
    const { rooms, placement } = startOver(['sig-a', 'sig-b', 'evil']);
    const claim = {
      node: 'evil',
      since: new Date(rooms.clock.now - 60_000).toISOString(),
      reason: 'placed' as const,
    };
    placement.reported('evil', [
      { key: roomKey('board'), body: claim },
      { key: roomKey('own'), body: claim },
      { key: roomKey('gone'), body: claim },
    ]);
    rooms.membership.report('sig-a', report('board'));
    rooms.membership.report('evil', report('own'));
    let changes = 0;
    placement.on('change', () => (changes += 1));
    placement.endRestore();
    const board = placement.homeOf('board');
    assert.ok(board !== undefined);
    assert.notEqual(board.since, claim.since, 'board placed again, afresh');
    assert.deepEqual(placement.homeOf('own'), claim, 'a home its node reports stays');
    assert.deepEqual(placement.homeOf('gone'), claim, 'a room nobody reports lingers as any other');
    assert.equal(changes, 1);
  });
});
