/**
 * What a signaling node holds of the other signaling nodes (issue 18):
 * SIGNALING_NODE resources (its peers' URLs, cascade link addresses and
 * identities) and room PLACEMENTs ("room/<name>": each room's home node),
 * both beside the config and put in force with their update, with no config
 * transaction. A SIGNALING_NODE body that does not parse, or is named other
 * than its node, refuses its update by name and changes nothing; listeners
 * get the whole set after each change, a removal included. Room placements
 * are read with placements.nodeOf('room/<name>'), emit 'change', and come
 * back in the Hello.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseConfigText,
  placementResource,
  ResourcesRefusedError,
  signalingNodeResource,
  splitConfig,
  type SignalingNodeBody,
} from '../../../src/config/index.js';
import { MeshState } from '../../../src/node-agent/index.js';
import type { WireResource } from '../../../src/protocol/mesh/index.js';
import { countingNodeConfig, update, wire } from '../../helpers/resource-updates.js';

const config = parseConfigText('signaling: { id: sig-a }', 'test');

const peer = (node: string, draining = false): SignalingNodeBody => ({
  node,
  identity: `spiffe://mesh.test/ns/default/sa/${node}`,
  url: `http://127.0.0.${node === 'sig-a' ? 11 : 12}:8443`,
  link: `127.0.0.${node === 'sig-a' ? 11 : 12}:8444`,
  draining,
});

const roomHome = (room: string, node: string): WireResource =>
  wire(
    placementResource(`room/${room}`, {
      node,
      since: '2026-12-05T07:00:00.000Z',
      reason: 'placed',
    }),
  );

async function signalingNode() {
  const state = new MeshState('sig-a');
  const { node, prepares } = countingNodeConfig({ meshState: state });
  await node.apply(update('0', splitConfig(config).map(wire)));
  return { state, node, prepares };
}

describe('signaling nodes on a signaling node', () => {
  it('holds every signaling node by id, with no config transaction, and tells listeners', async () => {
    const { state, node, prepares } = await signalingNode();
    const seen: string[][] = [];
    state.signalingNodes.onChange((nodes) => seen.push([...nodes.keys()]));
    const acked = await node.apply(
      update('1', [
        wire(signalingNodeResource(peer('sig-b'))),
        wire(signalingNodeResource(peer('sig-a'))),
      ]),
    );
    assert.equal(prepares(), 1, 'only the config ran a transaction');
    assert.deepEqual(
      acked.map((ref) => `${ref.type}/${ref.name}`),
      ['SIGNALING_NODE/sig-b', 'SIGNALING_NODE/sig-a'],
    );
    assert.deepEqual(state.signalingNodes.get('sig-b'), peer('sig-b'));
    assert.deepEqual(
      state.signalingNodes.list().map(({ node: id }) => id),
      ['sig-a', 'sig-b'],
    );
    assert.deepEqual(seen, [['sig-a', 'sig-b']]);

    await node.apply(update('2', [wire(signalingNodeResource(peer('sig-b', true)))]));
    assert.equal(state.signalingNodes.get('sig-b')?.draining, true);
    assert.equal(seen.length, 2);

    await node.apply(update('3', [], [{ type: 'SIGNALING_NODE', name: 'sig-b', version: '' }]));
    assert.equal(state.signalingNodes.get('sig-b'), undefined);
    assert.deepEqual(seen.at(-1), ['sig-a']);
    assert.ok(
      state.wire().every(({ type }) => type !== 'SIGNALING_NODE'),
      'not returned in the Hello',
    );
  });

  it('refuses a body that does not parse or is named other than its node, and changes nothing', async () => {
    const { state, node } = await signalingNode();
    await node.apply(update('1', [wire(signalingNodeResource(peer('sig-b')))]));
    const held = state.signalingNodes.list();
    const misnamed = { ...wire(signalingNodeResource(peer('sig-c'))), name: 'sig-d' };
    const badUrl = wire(signalingNodeResource({ ...peer('sig-e'), url: 'ftp://x' }));
    const badLink = wire(signalingNodeResource({ ...peer('sig-f'), link: '127.0.0.1' }));
    const notJson = { ...wire(signalingNodeResource(peer('sig-g'))), bodyJson: '{' };
    await assert.rejects(
      node.apply(
        update('2', [
          wire(signalingNodeResource(peer('sig-b', true))),
          misnamed,
          badUrl,
          badLink,
          notJson,
        ]),
      ),
      (error) => {
        assert.ok(error instanceof ResourcesRefusedError);
        assert.deepEqual(
          error.resourceIssues.map(({ type, name }) => `${type}/${name}`),
          [
            'SIGNALING_NODE/sig-d',
            'SIGNALING_NODE/sig-e',
            'SIGNALING_NODE/sig-f',
            'SIGNALING_NODE/sig-g',
          ],
        );
        const reasons = error.resourceIssues.map(({ reason }) => reason);
        assert.match(reasons[0] ?? '', /node: must be the resource's name/);
        assert.match(reasons[1] ?? '', /url/);
        assert.match(reasons[2] ?? '', /host:port/);
        assert.match(reasons[3] ?? '', /not JSON/);
        return true;
      },
    );
    assert.deepEqual(state.signalingNodes.list(), held, 'the good one beside them is not taken');
  });

  it("accepts room placements, readable as nodeOf('room/<name>'), emits 'change', returns them in the Hello", async () => {
    const { state, node, prepares } = await signalingNode();
    let changes = 0;
    state.on('change', () => (changes += 1));
    await node.apply(update('1', [roomHome('standup', 'sig-b'), roomHome('retro', 'sig-a')]));
    assert.equal(prepares(), 1);
    assert.equal(state.placements.nodeOf('room/standup'), 'sig-b');
    assert.equal(state.placements.nodeOf('room/retro'), 'sig-a');
    assert.equal(state.placements.nodeOf('room/unknown'), undefined);
    assert.equal(changes, 1);
    assert.deepEqual(
      state
        .wire()
        .filter(({ type }) => type === 'PLACEMENT')
        .map(({ name }) => name),
      ['room/retro', 'room/standup'],
      "this node's rooms first",
    );

    await node.apply(update('2', [], [{ type: 'PLACEMENT', name: 'room/standup', version: '' }]));
    assert.equal(state.placements.nodeOf('room/standup'), undefined);
    assert.equal(changes, 2);
  });
});
