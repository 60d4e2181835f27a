/**
 * PipePlanner on a fake clock: a PIPE per pair of signaling nodes sharing a
 * room, sent to its two nodes only; each end filled from its own node's
 * endpoints; withdrawn when a node leaves the room or goes stale (kept while
 * a node's stream is merely closed), its ends forgotten with it; no pipe to
 * a node without a SPIFFE ID when identities are required; bodies rebuilt
 * exactly from Hellos during the grace, each end from its own node's Hello
 * and the registry (a Hello's word about the other end, identities
 * included, is not taken; a pipe only one node returned is echoed to it
 * alone and forgotten after the grace; none with a proxy); the same
 * endpoint set again plans nothing; no key in the view.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import { pipeResourceName, type PipeBody } from '../../../../src/config/index.js';
import { checkPipeEndpoints } from '../../../../src/control-plane/config-push/index.js';
import { PipePlanner } from '../../../../src/control-plane/rooms/index.js';
import { roomsFixture, STALE_AFTER_MS, type Rooms } from './rooms-fixture.js';

/** An end's address and key as a body holds them. */
const filled = ({ address, srtp }: { address: string; srtp: PipeBody['a']['srtp'] & object }) => ({
  address,
  srtp,
});

const report = (...names: string[]) => names.map((room) => ({ room, peers: 1, producers: 0 }));

function endpointOf(node: string, pipeId: string, address: string) {
  const checked = checkPipeEndpoints(node, {
    sentAtMs: 0,
    endpoints: [
      {
        pipeId,
        address,
        srtpCryptoSuite: 'AEAD_AES_256_GCM',
        srtpKeyBase64: randomBytes(44).toString('base64'),
      },
    ],
  });
  assert.ok(typeof checked !== 'string', 'endpoint refused');
  return checked;
}

describe('PipePlanner', () => {
  const planners: PipePlanner[] = [];
  const grace = { restoring: false };
  const plannerOf = (rooms: Rooms, requireIdentity = false): PipePlanner => {
    const planner = new PipePlanner({
      registry: rooms.registry,
      membership: rooms.membership,
      grace,
      clock: { now: () => rooms.clock.now },
      log: rooms.log,
      requireIdentity,
    });
    planner.start();
    planners.push(planner);
    return planner;
  };
  const names = (planner: PipePlanner, node: string) =>
    planner.resources(node).map(({ name }) => name);
  const bodyAt = (planner: PipePlanner, node: string, pipeId: string): PipeBody | undefined =>
    planner.resources(node).find(({ name }) => name === pipeId)?.body as PipeBody | undefined;
  afterEach(() => {
    for (const planner of planners.splice(0)) planner.close();
    grace.restoring = false;
  });

  it('makes a pipe per pair of nodes sharing a room, for those two nodes only', () => {
    const rooms = roomsFixture();
    for (const id of ['sig-a', 'sig-b', 'sig-c', 'sig-d']) rooms.join(id);
    const planner = plannerOf(rooms);
    let changes = 0;
    planner.on('change', () => (changes += 1));
    for (const id of ['sig-a', 'sig-b', 'sig-c']) rooms.membership.report(id, report('r1'));
    rooms.membership.report('sig-d', report('r2'));
    assert.ok(changes > 0);
    assert.deepEqual(names(planner, 'sig-a'), ['pipe/r1/sig-a~sig-b', 'pipe/r1/sig-a~sig-c']);
    assert.deepEqual(names(planner, 'sig-c'), ['pipe/r1/sig-a~sig-c', 'pipe/r1/sig-b~sig-c']);
    assert.deepEqual(names(planner, 'sig-d'), [], 'alone in r2: no pipe');
    assert.deepEqual(bodyAt(planner, 'sig-b', 'pipe/r1/sig-a~sig-b'), {
      pipeId: 'pipe/r1/sig-a~sig-b',
      room: 'r1',
      a: { node: 'sig-a', identity: null },
      b: { node: 'sig-b', identity: null },
    });
  });

  it('fills each end from its own node, only for a pipe that exists; forgets ends with the pipe', () => {
    const rooms = roomsFixture();
    for (const id of ['sig-a', 'sig-b', 'sig-c']) rooms.join(id);
    const planner = plannerOf(rooms);
    for (const id of ['sig-a', 'sig-b']) rooms.membership.report(id, report('r1'));
    const pipeId = pipeResourceName('r1', 'sig-a', 'sig-b');
    const fromB = endpointOf('sig-b', pipeId, '127.0.0.12:40000');
    planner.endpoints('sig-b', fromB);
    const body = bodyAt(planner, 'sig-a', pipeId);
    assert.ok(body);
    assert.equal(body.a.address, undefined, 'sig-a has not reported yet');
    assert.equal(body.b.address, '127.0.0.12:40000');
    assert.deepEqual(body.b.srtp, fromB[0]?.srtp);
    assert.deepEqual(bodyAt(planner, 'sig-b', pipeId), body, 'one body for both ends');
    // A pipe sig-c is not an end of yet: its endpoint is not kept.
    const early = endpointOf('sig-c', pipeResourceName('r1', 'sig-a', 'sig-c'), '127.0.0.13:1');
    planner.endpoints('sig-c', early);
    rooms.membership.report('sig-c', report('r1'));
    assert.equal(bodyAt(planner, 'sig-c', 'pipe/r1/sig-a~sig-c')?.b.address, undefined);
    // sig-b leaves r1 and comes back: the new pipe waits for a new transport.
    rooms.membership.report('sig-b', []);
    assert.deepEqual(names(planner, 'sig-b'), []);
    rooms.membership.report('sig-b', report('r1'));
    assert.equal(bodyAt(planner, 'sig-a', pipeId)?.b.address, undefined);
    const text = JSON.stringify(planner.view());
    assert.ok(!text.includes(fromB[0]?.srtp.keyBase64 ?? '?'), 'no key in the view');
  });

  it('empties the end of a node whose Hello does not hold the pipe (a fresh process)', async () => {
    const rooms = roomsFixture();
    for (const id of ['sig-a', 'sig-b']) rooms.join(id);
    const planner = plannerOf(rooms);
    for (const id of ['sig-a', 'sig-b']) rooms.membership.report(id, report('r1'));
    const pipeId = pipeResourceName('r1', 'sig-a', 'sig-b');
    planner.endpoints('sig-a', endpointOf('sig-a', pipeId, '127.0.0.11:40000'));
    planner.endpoints('sig-b', endpointOf('sig-b', pipeId, '127.0.0.12:40000'));
    let changes = 0;
    planner.on('change', () => (changes += 1));
    planner.greeted('sig-a', new Set([pipeId]));
    planner.greeted('sig-b', new Set());
    await Promise.resolve();
    const body = bodyAt(planner, 'sig-a', pipeId);
    assert.ok(body);
    assert.equal(body.a.address, '127.0.0.11:40000', 'a reconnect that holds it keeps its end');
    assert.equal(body.b.address, undefined, 'a restarted node reports a new transport');
    assert.equal(body.b.srtp, undefined);
    assert.equal(changes, 1);
  });

  it('withdraws a stale node’s pipes, not those of a node whose stream merely closed', () => {
    const rooms = roomsFixture();
    for (const id of ['sig-a', 'sig-b']) rooms.join(id);
    const planner = plannerOf(rooms);
    for (const id of ['sig-a', 'sig-b']) rooms.membership.report(id, report('r1'));
    rooms.registry.streamClosed('sig-b');
    planner.reconcile();
    assert.deepEqual(names(planner, 'sig-a'), ['pipe/r1/sig-a~sig-b'], 'a blip cuts no media');
    rooms.clock.now += STALE_AFTER_MS + 1;
    rooms.registry.seen('sig-a');
    planner.reconcile();
    assert.deepEqual(names(planner, 'sig-a'), []);
    assert.deepEqual(names(planner, 'sig-b'), []);
  });

  it('with identities required, joins only nodes that registered with a certificate', () => {
    const rooms = roomsFixture();
    rooms.join('sig-a', { spiffeId: 'spiffe://mesh.test/ns/default/sa/sig' });
    rooms.join('sig-b', { spiffeId: 'spiffe://mesh.test/ns/default/sa/sig' });
    rooms.join('sig-c');
    const planner = plannerOf(rooms, true);
    for (const id of ['sig-a', 'sig-b', 'sig-c']) rooms.membership.report(id, report('r1'));
    assert.deepEqual(names(planner, 'sig-a'), ['pipe/r1/sig-a~sig-b']);
    assert.deepEqual(names(planner, 'sig-c'), []);
    assert.equal(
      bodyAt(planner, 'sig-a', 'pipe/r1/sig-a~sig-b')?.b.identity,
      'spiffe://mesh.test/ns/default/sa/sig',
    );
  });

  it('takes bodies back from Hellos in the grace, each node’s own end winning; then plans', () => {
    const rooms = roomsFixture();
    for (const id of ['sig-a', 'sig-b']) rooms.join(id);
    grace.restoring = true;
    const planner = plannerOf(rooms);
    const pipeId = pipeResourceName('r1', 'sig-a', 'sig-b');
    const [a] = endpointOf('sig-a', pipeId, '127.0.0.10:40000');
    const [b] = endpointOf('sig-b', pipeId, '127.0.0.11:40000');
    const [forged] = endpointOf('sig-a', pipeId, '127.0.0.66:1');
    assert.ok(a && b && forged);
    const body: PipeBody = {
      pipeId,
      room: 'r1',
      a: { node: 'sig-a', identity: null, address: a.address, srtp: a.srtp },
      b: { node: 'sig-b', identity: null, address: b.address, srtp: b.srtp },
    };
    // sig-b's Hello says something else of sig-a's end; sig-a's own word wins.
    planner.reported('sig-b', [
      { ...body, a: { ...body.a, address: forged.address, srtp: forged.srtp } },
    ]);
    planner.reported('sig-a', [body]);
    planner.reported('sig-a', [
      {
        ...body,
        pipeId: 'pipe/r9/sig-b~sig-c',
        room: 'r9',
        a: { node: 'sig-b', identity: null },
        b: { node: 'sig-c', identity: null },
      },
    ]);
    assert.deepEqual(bodyAt(planner, 'sig-a', pipeId), body);
    assert.deepEqual(names(planner, 'sig-c'), [], 'a Hello speaks only for its own pipes');
    const restoredVersion = planner.resources('sig-a')[0]?.version;
    for (const id of ['sig-a', 'sig-b']) rooms.membership.report(id, report('r1'));
    grace.restoring = false;
    planner.reconcile();
    assert.equal(
      planner.resources('sig-a')[0]?.version,
      restoredVersion,
      'a restart changes nothing',
    );
    assert.equal(planner.view().pipes[0]?.state, 'active');
  });

  it('in the grace takes from a Hello only its own end, identities from the registry, never a proxy’s pipe', async () => {
    const rooms = roomsFixture();
    const ids = {
      a: 'spiffe://mesh.test/ns/default/sa/sig-a',
      v: 'spiffe://mesh.test/ns/default/sa/victim',
    };
    rooms.join('sig-a', { spiffeId: ids.a });
    rooms.join('victim', { spiffeId: ids.v });
    rooms.join('proxy-a', { role: 'ROLE_PROXY', spiffeId: 'spiffe://mesh.test/ns/default/sa/p' });
    grace.restoring = true;
    const planner = plannerOf(rooms, true);
    let changes = 0;
    planner.on('change', () => (changes += 1));
    const pipeId = pipeResourceName('r1', 'sig-a', 'victim');
    const [own] = endpointOf('sig-a', pipeId, '127.0.0.10:40000');
    const [made] = endpointOf('victim', pipeId, '127.0.0.66:1');
    assert.ok(own && made);
    // sig-a returns a pipe with the victim's end made up: no identity, its own address and key.
    const claimed: PipeBody = {
      pipeId,
      room: 'r1',
      a: { node: 'sig-a', identity: 'spiffe://mesh.test/ns/default/sa/anything', ...filled(own) },
      b: { node: 'victim', identity: null, address: made.address, srtp: made.srtp },
    };
    planner.reported('sig-a', [
      claimed,
      {
        pipeId: pipeResourceName('r1', 'proxy-a', 'sig-a'),
        room: 'r1',
        a: { node: 'proxy-a', identity: null },
        b: { node: 'sig-a', identity: ids.a },
      },
    ]);
    await Promise.resolve();
    assert.deepEqual(names(planner, 'victim'), [], 'nothing of it reaches the victim');
    assert.deepEqual(names(planner, 'proxy-a'), []);
    assert.deepEqual(
      planner.resources('sig-a').map(({ body }) => body),
      [claimed],
      'sig-a is sent back what it holds, nothing more',
    );
    assert.equal(changes, 0);
    // The victim returns the pipe too (it did hold it): each end is its own node's, identities the registry's.
    const [victimOwn] = endpointOf('victim', pipeId, '127.0.0.11:40000');
    assert.ok(victimOwn);
    planner.reported('victim', [
      {
        ...claimed,
        a: { node: 'sig-a', identity: ids.a },
        b: { node: 'victim', identity: ids.v, ...filled(victimOwn) },
      },
    ]);
    await Promise.resolve();
    assert.deepEqual(bodyAt(planner, 'victim', pipeId), {
      pipeId,
      room: 'r1',
      a: { node: 'sig-a', identity: ids.a, ...filled(own) },
      b: { node: 'victim', identity: ids.v, ...filled(victimOwn) },
    });
    assert.equal(changes, 1);
  });

  it('forgets after the grace a pipe only one of its nodes returned; a Hello’s end off its hosts is not taken', () => {
    const rooms = roomsFixture();
    for (const id of ['sig-a', 'sig-b']) rooms.join(id);
    grace.restoring = true;
    const planner = plannerOf(rooms);
    const pipeId = pipeResourceName('r1', 'sig-a', 'sig-b');
    const [own] = endpointOf('sig-a', pipeId, '127.0.0.10:40000');
    assert.ok(own);
    planner.reported('sig-a', [
      {
        pipeId,
        room: 'r1',
        a: { node: 'sig-a', identity: null, ...filled(own) },
        b: { node: 'sig-b', identity: null },
      },
    ]);
    assert.deepEqual(names(planner, 'sig-a'), [pipeId]);
    // sig-b returns it too, its own end on a host it did not register: that end is not taken.
    const [foreign] = endpointOf('sig-b', pipeId, '127.0.0.66:40000');
    assert.ok(foreign);
    planner.reported('sig-b', [
      {
        pipeId,
        room: 'r1',
        a: { node: 'sig-a', identity: null },
        b: { node: 'sig-b', identity: null, ...filled(foreign) },
      },
    ]);
    assert.equal(bodyAt(planner, 'sig-b', pipeId)?.b.address, undefined);
    assert.equal(bodyAt(planner, 'sig-b', pipeId)?.a.address, own.address);
    grace.restoring = false;
    planner.reconcile();
    assert.deepEqual(names(planner, 'sig-a'), [], 'no reports call for it');
    // Called for later, it starts without the end that Hello named.
    for (const id of ['sig-a', 'sig-b']) rooms.membership.report(id, report('r1'));
    assert.equal(bodyAt(planner, 'sig-a', pipeId)?.a.address, undefined);
  });

  it('plans nothing for the same endpoint set again', () => {
    const rooms = roomsFixture();
    for (const id of ['sig-a', 'sig-b']) rooms.join(id);
    const planner = plannerOf(rooms);
    for (const id of ['sig-a', 'sig-b']) rooms.membership.report(id, report('r1'));
    const set = endpointOf('sig-a', pipeResourceName('r1', 'sig-a', 'sig-b'), '127.0.0.11:40000');
    let passes = 0;
    const reconcile = planner.reconcile.bind(planner);
    planner.reconcile = () => {
      passes += 1;
      reconcile();
    };
    planner.endpoints('sig-a', set);
    assert.equal(passes, 1);
    for (let i = 0; i < 100; i += 1) planner.endpoints('sig-a', set);
    assert.equal(passes, 1, 'a repeated set costs no pass');
    planner.endpoints('sig-a', []);
    assert.equal(passes, 2, 'a changed set does');
  });
});
