/**
 * A node's config as resources, changed by updates (NodeConfig): a refusal is
 * traced to the resources the refusing participant's error names (or, as a
 * last resort, quotes), and a commit that throws still leaves the node
 * holding, reporting and acknowledging the config that is in force.
 * Participants are in-process stand-ins: what is tested is the node's
 * bookkeeping, not a service.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import {
  parseConfigText,
  ResourcesRefusedError,
  splitConfig,
  type MeshConfig,
  type ResourceType,
} from '../../../src/config/index.js';
import {
  NodeClosedError,
  NodeConfig,
  type ConfigParticipant,
} from '../../../src/node-agent/index.js';
import type { ResourceUpdate } from '../../../src/protocol/mesh/index.js';

const configWith = (routes: readonly { name: string; port: number }[]): MeshConfig =>
  parseConfigText(
    [
      'proxy:',
      '  routes:',
      ...routes.map(
        ({ name, port }) =>
          `    - { name: ${name}, listen: 127.0.0.1:${port}, destinations: [{ address: 127.0.0.1:9 }] }`,
      ),
    ].join('\n'),
    'test',
  );

/** An update carrying every resource of `config` (as a first update does). */
const fullUpdate = (nonce: string, config: MeshConfig): ResourceUpdate => ({
  nonce,
  systemVersion: `sv${nonce}`,
  resources: splitConfig(config).map(({ type, name, version, order, body }) => ({
    type,
    name,
    version,
    order,
    bodyJson: JSON.stringify(body),
  })),
  removed: [],
});

/** An update carrying only the resources of `next` that differ from `previous`. */
const deltaUpdate = (nonce: string, previous: MeshConfig, next: MeshConfig): ResourceUpdate => {
  const held = new Set(
    splitConfig(previous).map((item) => `${item.type}/${item.name}@${item.version}`),
  );
  const full = fullUpdate(nonce, next);
  return {
    ...full,
    resources: full.resources.filter(
      (item) => !held.has(`${item.type}/${item.name}@${item.version}`),
    ),
  };
};

interface Participant extends ConfigParticipant {
  readonly commits: MeshConfig[];
  refuseWith: Error | undefined;
  commitThrows: boolean;
}

function participant(name: string, resourceTypes?: readonly ResourceType[]): Participant {
  const self: Participant = {
    name,
    ...(resourceTypes === undefined ? {} : { resourceTypes }),
    commits: [],
    refuseWith: undefined,
    commitThrows: false,
    prepare: (candidate) => {
      if (self.refuseWith !== undefined) return Promise.reject(self.refuseWith);
      return Promise.resolve({
        commit: () => {
          self.commits.push(candidate);
          if (self.commitThrows) throw new Error(`${name} commit bug`);
        },
        abort: () => Promise.resolve(),
      });
    },
  };
  return self;
}

function node(participants: readonly ConfigParticipant[]) {
  const lines: { level: number; msg: string }[] = [];
  const log = pino(
    { level: 'info' },
    { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) },
  );
  const metrics = new Registry();
  const config = new NodeConfig({ participants, metrics, log });
  const counter = async (name: string): Promise<number> =>
    (await metrics.getSingleMetric(name)?.get())?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;
  return { config, lines, counter };
}

const refusedKeys = async (attempt: Promise<unknown>): Promise<string[]> => {
  try {
    await attempt;
  } catch (error) {
    assert.ok(error instanceof ResourcesRefusedError, String(error));
    return error.resourceIssues.map((issue) => `${issue.type}/${issue.name}`).sort();
  }
  assert.fail('the update was not refused');
};

describe('NodeConfig', () => {
  const first = configWith([
    { name: 'in', port: 5004 },
    { name: 'a', port: 5008 },
  ]);
  const moved = configWith([
    { name: 'in', port: 5104 },
    { name: 'a', port: 5108 },
  ]);

  it('a refusal whose error names its resources NACKs exactly those, however its message reads', async () => {
    const relay = participant('relay', ['MEDIA_ROUTE', 'MESH_SETTINGS']);
    const { config } = node([relay]);
    await config.apply(fullUpdate('1', first));
    const held = config.heldResources();
    // The message says "in use" and "a": a text match would name both routes.
    relay.refuseWith = new Error('relay: refused', {
      cause: Object.assign(new Error('address in use (a port below 1024?)'), {
        resources: [{ type: 'MEDIA_ROUTE', name: 'a' }],
      }),
    });
    const update = deltaUpdate('2', first, moved);
    assert.deepEqual(await refusedKeys(config.apply(update)), ['MEDIA_ROUTE/a']);
    assert.deepEqual(config.heldResources(), held, 'the node keeps what it held');
    assert.equal(config.applied?.version, 'sv1');
  });

  it('a refusal without names falls back to the participant’s declared types, then the update', async () => {
    const rtsp = participant('rtsp', ['RTSP_PATH', 'RTSP_SETTINGS']);
    const relay = participant('relay', ['MEDIA_ROUTE', 'MESH_SETTINGS']);
    const { config } = node([rtsp, relay]);
    await config.apply(fullUpdate('1', first));
    relay.refuseWith = new Error('address in use');
    assert.deepEqual(await refusedKeys(config.apply(deltaUpdate('2', first, moved))), [
      'MEDIA_ROUTE/a',
      'MEDIA_ROUTE/in',
    ]);
    // A participant that declares no types: the whole update.
    const undeclared = participant('sfu');
    const other = node([undeclared]);
    undeclared.refuseWith = new Error('no');
    const all = fullUpdate('1', first)
      .resources.map((item) => `${item.type}/${item.name}`)
      .sort();
    assert.deepEqual(await refusedKeys(other.config.apply(fullUpdate('1', first))), all);
  });

  it('a commit that throws still puts the update in force, ACKs it, and is logged and counted', async () => {
    const relay = participant('relay', ['MEDIA_ROUTE', 'MESH_SETTINGS']);
    const l7 = participant('l7', ['HTTP_LISTENER']);
    const { config, lines, counter } = node([relay, l7]);
    await config.apply(fullUpdate('1', first));
    relay.commitThrows = true;
    const update = deltaUpdate('2', first, moved);
    const applied = await config.apply(update);
    assert.deepEqual(
      applied.map((ref) => `${ref.type}/${ref.name}@${ref.version}`).sort(),
      update.resources.map((ref) => `${ref.type}/${ref.name}@${ref.version}`).sort(),
    );
    assert.equal(config.applied?.version, 'sv2');
    assert.deepEqual(config.applied.config.proxy.routes, moved.proxy.routes);
    assert.deepEqual(
      config.heldResources().sort((x, y) => (x.name < y.name ? -1 : 1)),
      splitConfig(moved)
        .map(({ type, name, version }) => ({ type, name, version }))
        .sort((x, y) => (x.name < y.name ? -1 : 1)),
      'the node holds the versions in force',
    );
    assert.equal(l7.commits.length, 2, 'the later participant committed too');
    assert.equal(await counter('streammesh_node_config_commit_failures_total'), 1);
    assert.ok(
      lines.some((line) => line.level >= 50 && /commit/.test(line.msg)),
      'logged at error level',
    );
  });

  it('applies updates one at a time: a second prepare never starts before the first settles', async () => {
    let running = 0;
    let mostAtOnce = 0;
    const prepared: string[] = [];
    const slow: ConfigParticipant = {
      name: 'relay',
      resourceTypes: ['MEDIA_ROUTE', 'MESH_SETTINGS'],
      prepare: async (candidate) => {
        running += 1;
        mostAtOnce = Math.max(mostAtOnce, running);
        await new Promise((resolve) => setTimeout(resolve, 20));
        running -= 1;
        prepared.push(candidate.proxy.routes[0]?.listen ?? '');
        return { commit: () => undefined, abort: () => Promise.resolve() };
      },
    };
    const { config } = node([slow]);
    // Not awaited in between: both are in the node's hands at once.
    const one = config.apply(fullUpdate('1', first));
    const two = config.apply(deltaUpdate('2', first, moved));
    await Promise.all([one, two]);
    assert.equal(mostAtOnce, 1);
    assert.deepEqual(prepared, ['127.0.0.1:5004', '127.0.0.1:5104'], 'in the order given');
    assert.equal(config.applied?.version, 'sv2');
  });

  it('close() waits for the update in flight and refuses the ones after it', async () => {
    let release = (): void => undefined;
    const events: string[] = [];
    const held: ConfigParticipant = {
      name: 'relay',
      prepare: async () => {
        events.push('prepare');
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        return {
          commit: () => events.push('commit'),
          abort: () => Promise.resolve(),
        };
      },
    };
    const { config } = node([held]);
    const inFlight = config.apply(fullUpdate('1', first));
    const queued = config.apply(deltaUpdate('2', first, moved));
    await new Promise((resolve) => setImmediate(resolve));
    const closing = config.close().then(() => events.push('closed'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(events, ['prepare'], 'close waits');
    release();
    await closing;
    await inFlight;
    await assert.rejects(queued, NodeClosedError);
    assert.deepEqual(events, ['prepare', 'commit', 'closed']);
    await assert.rejects(config.apply(deltaUpdate('3', first, moved)), NodeClosedError);
  });
});
