/**
 * PLACEMENT resources on a node: kept beside the config, never assembled
 * into it. An update with only placements runs no transaction; a bad body
 * refuses its update by name and leaves placements and config as they were;
 * removals drop placements; the Hello returns them with their bodies.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import {
  parseConfigText,
  placementResource,
  ResourcesRefusedError,
  splitConfig,
  type PlacementBody,
} from '../../../src/config/index.js';
import { MeshState, NodeConfig } from '../../../src/node-agent/index.js';
import type { WireResource } from '../../../src/protocol/mesh/index.js';
import { countingNodeConfig, update, wire } from '../../helpers/resource-updates.js';

const config = parseConfigText('proxy: { id: proxy-a }', 'test');

const placed = (key: string, node: string): WireResource =>
  wire(placementResource(key, { node, since: '2026-12-04T10:00:00.000Z', reason: 'placed' }));

function nodeWithPlacements() {
  const meshState = new MeshState('proxy-a');
  const { node, prepares } = countingNodeConfig({ meshState });
  return { node, placements: meshState.placements, prepares };
}

describe('placements on a node', () => {
  it('keeps placements beside the config; a placement-only update runs no transaction', async () => {
    const { node, placements, prepares } = nodeWithPlacements();
    const applied = await node.apply(
      update('1', [...splitConfig(config).map(wire), placed('camera/cam1', 'proxy-a')]),
    );
    assert.equal(prepares(), 1);
    assert.ok(applied.some((ref) => ref.type === 'PLACEMENT' && ref.name === 'camera/cam1'));
    assert.ok(
      node.heldResources().every((ref) => (ref.type as string) !== 'PLACEMENT'),
      'the config set holds no placement',
    );

    const applied1 = node.applied;
    const acked = await node.apply(update('2', [placed('camera/cam2', 'proxy-b')]));
    assert.equal(prepares(), 1, 'placements alone prepare nothing');
    assert.equal(node.applied, applied1, 'the config record (and its appliedAt) stays');
    assert.deepEqual(
      acked.map((ref) => `${ref.type}/${ref.name}`),
      ['PLACEMENT/camera/cam2'],
    );
    assert.deepEqual(
      placements.list().map(({ key, node: owner, owned }) => ({ key, owner, owned })),
      [
        { key: 'camera/cam1', owner: 'proxy-a', owned: true },
        { key: 'camera/cam2', owner: 'proxy-b', owned: false },
      ],
    );

    await node.apply(update('3', [], [{ type: 'PLACEMENT', name: 'camera/cam1', version: '' }]));
    assert.deepEqual(
      placements.list().map(({ key }) => key),
      ['camera/cam2'],
    );
    const hello = placements.wire();
    assert.equal(hello.length, 1);
    assert.deepEqual(JSON.parse(hello[0]?.bodyJson ?? '') as PlacementBody, {
      node: 'proxy-b',
      since: '2026-12-04T10:00:00.000Z',
      reason: 'placed',
    });
  });

  it('refuses an update with a bad placement body, by name, and changes nothing', async () => {
    const { node, placements } = nodeWithPlacements();
    await node.apply(
      update('1', [...splitConfig(config).map(wire), placed('route/r1', 'proxy-a')]),
    );
    const heldConfig = node.heldResources();
    const bad = [
      wire({ type: 'PLACEMENT', name: 'route/r2', version: 'x', order: 0, body: { node: '' } }),
      { ...placed('route/r3', 'proxy-a'), bodyJson: '{' },
      wire({
        type: 'PLACEMENT',
        name: 'route/r4',
        version: 'x',
        order: 0,
        body: { node: 'proxy-a', since: '2026-12-04T10:00:00.000Z', reason: 'placed', extra: 1 },
      }),
    ];
    await assert.rejects(
      node.apply(update('2', [placed('route/r5', 'proxy-a'), ...bad])),
      (error) => {
        assert.ok(error instanceof ResourcesRefusedError);
        assert.deepEqual(
          error.resourceIssues.map(({ type, name }) => `${type}/${name}`),
          ['PLACEMENT/route/r2', 'PLACEMENT/route/r3', 'PLACEMENT/route/r4'],
        );
        return true;
      },
    );
    assert.deepEqual(
      placements.list().map(({ key }) => key),
      ['route/r1'],
    );
    assert.deepEqual(node.heldResources(), heldConfig);
  });

  it('a Hello returns the placements it carries first, within its byte budget', async () => {
    const { node, placements } = nodeWithPlacements();
    await node.apply(
      update('1', [
        ...splitConfig(config).map(wire),
        placed('camera/a', 'proxy-b'),
        placed('camera/b', 'proxy-a'),
        placed('camera/c', 'proxy-b'),
        placed('camera/d', 'proxy-a'),
      ]),
    );
    assert.deepEqual(
      placements.wire().map(({ name }) => name),
      ['camera/b', 'camera/d', 'camera/a', 'camera/c'],
    );
    const one = placements.wire().slice(0, 1);
    const size = one.reduce(
      (sum, item) => sum + item.name.length + item.version.length + item.bodyJson.length + 16,
      0,
    );
    assert.deepEqual(
      placements.wire(2 * size).map(({ name }) => name),
      ['camera/b', 'camera/d'],
    );
  });

  it('a node without a Placements refuses them as not served', async () => {
    const node = new NodeConfig({
      participants: [],
      metrics: new Registry(),
      log: pino({ level: 'silent' }),
    });
    await assert.rejects(
      node.apply(update('1', [...splitConfig(config).map(wire), placed('camera/c', 'proxy-a')])),
      /PLACEMENT is not served by this node/,
    );
  });
});
