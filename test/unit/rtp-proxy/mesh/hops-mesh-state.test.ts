/**
 * The MEDIA_KEY hops a node holds (Hops) and the MeshState that stages and
 * commits them with the placements: a body named other than its hop id, a
 * hop of two other nodes, or one that does not parse is refused by name
 * (never quoting a key); 'change' follows a commit that moved hops or
 * placements, and only such a commit; the Hello keeps its hops first, within
 * half its budget, and fills the rest with placements.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  hopResource,
  hopResourceName,
  placementResource,
  type HopBody,
  type PushedResource,
} from '../../../../src/config/index.js';
import { MeshState } from '../../../../src/node-agent/index.js';
import type { ResourceUpdate, WireResource } from '../../../../src/protocol/mesh/index.js';
import { generateHopKey } from '../../../../src/protocol/srtp/index.js';

const notAfter = Date.now() + 3_600_000;

function hop(session: string, sender: string, receiver: string, epochs = [1]): HopBody {
  const hopId = hopResourceName(session, sender, receiver);
  return {
    hopId,
    session,
    sender,
    receiver,
    senderAddress: '127.0.0.1:5000',
    receiverAddress: '127.0.0.2:6000',
    keys: epochs.map((epoch) => generateHopKey({ hopId, epoch, notAfter })),
    sendEpoch: epochs[0] ?? 1,
  };
}

const wire = (resource: PushedResource): WireResource => ({
  type: resource.type,
  name: resource.name,
  version: resource.version,
  order: resource.order,
  bodyJson: JSON.stringify(resource.body),
});

const placed = (key: string, node: string): WireResource =>
  wire(placementResource(key, { node, since: '2026-12-05T00:00:00.000Z', reason: 'placed' }));

const update = (
  resources: WireResource[],
  removed: ResourceUpdate['removed'] = [],
): ResourceUpdate => ({ nonce: 'n', systemVersion: 'sv', resources, removed });

/** Stages and commits `u`; returns how many 'change' events it caused. */
function apply(state: MeshState, u: ResourceUpdate): number {
  let changes = 0;
  const count = (): void => {
    changes += 1;
  };
  state.on('change', count);
  const staged = state.stage(u);
  assert.deepEqual(staged.issues, [], 'the update is accepted');
  state.commit(staged);
  state.off('change', count);
  return changes;
}

describe('hops held by a node', () => {
  it('keeps the hops it sends and receives, by role', () => {
    const state = new MeshState('proxy-a');
    const out = hop('camera/cam1', 'proxy-a', 'proxy-b');
    const inA = hop('camera/cam2', 'proxy-b', 'proxy-a');
    const inB = hop('camera/cam2', 'proxy-c', 'proxy-a');
    apply(state, update([out, inA, inB].map((body) => wire(hopResource(body)))));
    assert.deepEqual(
      state.hops.sending().map(({ hopId }) => hopId),
      [out.hopId],
    );
    assert.deepEqual(
      state.hops
        .receiving()
        .get('camera/cam2')
        ?.map(({ hopId }) => hopId),
      [inA.hopId, inB.hopId],
    );
    assert.deepEqual(
      state.hops.list().map(({ hopId, role, peer }) => ({ hopId, role, peer })),
      [
        { hopId: out.hopId, role: 'sender', peer: 'proxy-b' },
        { hopId: inA.hopId, role: 'receiver', peer: 'proxy-b' },
        { hopId: inB.hopId, role: 'receiver', peer: 'proxy-c' },
      ].sort((a, b) => (a.hopId < b.hopId ? -1 : 1)),
    );
  });

  it('refuses, by name and without quoting a key, a body named other than its hopId, of two other nodes, or unreadable', () => {
    const state = new MeshState('proxy-a');
    const good = hop('camera/cam1', 'proxy-a', 'proxy-b');
    const others = hop('camera/cam1', 'proxy-b', 'proxy-c');
    const misnamed = { ...wire(hopResource(good)), name: 'camera/cam1:proxy-a->proxy-z' };
    const foreign = wire(hopResource(others));
    const unreadable = { ...wire(hopResource(good)), name: 'x', bodyJson: '{' };
    const badKey = wire(
      hopResource({ ...good, keys: [{ ...good.keys[0], key: 'short' } as HopBody['keys'][0]] }),
    );
    const staged = state.stage(update([misnamed, foreign, unreadable, badKey]));
    assert.deepEqual(
      staged.issues.map(({ type, name }) => `${type}/${name}`),
      [
        'MEDIA_KEY/camera/cam1:proxy-a->proxy-z',
        `MEDIA_KEY/${others.hopId}`,
        'MEDIA_KEY/x',
        `MEDIA_KEY/${good.hopId}`,
      ],
    );
    assert.match(staged.issues[0]?.reason ?? '', /not the resource's name/);
    assert.match(staged.issues[1]?.reason ?? '', /not of this node proxy-a/);
    for (const issue of staged.issues) {
      for (const key of [...good.keys, ...others.keys]) {
        assert.ok(!issue.reason.includes(key.key), 'a reason never quotes a key');
      }
    }
    assert.equal(staged.hops.next.size, 0, 'nothing refused is staged');
  });

  it("emits 'change' after a commit that moved hops or placements, and only then", () => {
    const state = new MeshState('proxy-a');
    const body = hop('camera/cam1', 'proxy-a', 'proxy-b', [1]);
    const first = wire(hopResource(body));
    assert.equal(apply(state, update([first])), 1, 'a new hop');
    assert.equal(apply(state, update([first])), 0, 'the same hop again');
    assert.equal(apply(state, update([])), 0, 'an update about nothing held');

    const rotated = hop('camera/cam1', 'proxy-a', 'proxy-b', [1, 2]);
    const withNext = wire(
      hopResource({
        ...rotated,
        keys: [body.keys[0], ...rotated.keys.slice(1)] as HopBody['keys'],
      }),
    );
    assert.equal(apply(state, update([withNext])), 1, 'a new version of the hop (a key added)');
    assert.equal(state.hops.list()[0]?.epochs.length, 2);

    assert.equal(apply(state, update([placed('camera/cam1', 'proxy-a')])), 1, 'a placement');
    assert.equal(apply(state, update([placed('camera/cam1', 'proxy-a')])), 0, 'the same placement');

    const removal = update([], [{ type: 'MEDIA_KEY', name: body.hopId, version: '' }]);
    assert.equal(apply(state, removal), 1, 'a hop removed');
    assert.equal(state.hops.size, 0);
    assert.equal(apply(state, removal), 0, 'removing it again');
  });

  it('returns its hops first in the Hello, within half the budget, placements in the rest', () => {
    const state = new MeshState('proxy-a');
    const hops = Array.from({ length: 40 }, (_, index) =>
      wire(hopResource(hop(`camera/cam${index}`, 'proxy-a', 'proxy-b'))),
    );
    const placements = Array.from({ length: 200 }, (_, index) =>
      placed(`camera/cam${index}`, index % 2 === 0 ? 'proxy-a' : 'proxy-b'),
    );
    apply(state, update([...hops, ...placements]));
    const size = (r: WireResource): number =>
      Buffer.byteLength(r.name) + r.version.length + Buffer.byteLength(r.bodyJson) + 16;
    const oneHop = size(hops[0] as WireResource);

    // All fit: every hop, then every placement.
    const all = state.wire();
    assert.equal(all.length, hops.length + placements.length);
    assert.ok(all.slice(0, hops.length).every(({ type }) => type === 'MEDIA_KEY'));

    // Room for 10 hops in half the budget: exactly those, first; placements fill the rest.
    const budget = oneHop * 20 + 8;
    const tight = state.wire(budget);
    const tightHops = tight.filter(({ type }) => type === 'MEDIA_KEY');
    assert.equal(tightHops.length, Math.floor(budget / 2 / oneHop));
    assert.ok(tight.slice(0, tightHops.length).every(({ type }) => type === 'MEDIA_KEY'));
    const hopBytes = tightHops.reduce((sum, r) => sum + size(r), 0);
    assert.ok(hopBytes <= budget / 2);
    const placementsIn = tight.filter(({ type }) => type === 'PLACEMENT');
    assert.ok(placementsIn.length > 0, 'placements get the rest');
    assert.ok(tight.reduce((sum, r) => sum + size(r), 0) <= budget, 'the whole Hello fits');
    const onePlacement = size(placements[0] as WireResource);
    assert.ok(
      budget - hopBytes - placementsIn.reduce((sum, r) => sum + size(r), 0) < onePlacement + 4,
      'and placements use the rest up',
    );
  });
});
