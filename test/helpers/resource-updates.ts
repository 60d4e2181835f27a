/**
 * What the node-agent tests build updates from, one way: a pushed resource
 * as it travels on the stream (wire), an update carrying some (update), and
 * a NodeConfig whose config transactions are counted
 * (countingNodeConfig), so a test can tell that resources held beside the
 * config (PLACEMENT, SIGNALING_NODE, PIPE) ran none.
 */
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { PushedResource } from '../../src/config/index.js';
import { NodeConfig, type MeshState } from '../../src/node-agent/index.js';
import type { ResourceUpdate, WireResource } from '../../src/protocol/mesh/index.js';

/** A pushed resource as the control plane sends it: its body as JSON. */
export function wire(resource: PushedResource): WireResource {
  const { type, name, version, order, body } = resource;
  return { type, name, version, order, bodyJson: JSON.stringify(body) };
}

export function update(
  nonce: string,
  resources: WireResource[],
  removed: ResourceUpdate['removed'] = [],
): ResourceUpdate {
  return { nonce, systemVersion: 'sv1', resources, removed };
}

export interface CountingNodeConfigOptions {
  readonly meshState: MeshState;
  /** Default a registry of its own. */
  readonly metrics?: Registry;
}

/** A NodeConfig over `meshState` with one participant that counts its prepares. */
export function countingNodeConfig(options: CountingNodeConfigOptions): {
  readonly node: NodeConfig;
  readonly prepares: () => number;
} {
  let prepares = 0;
  const node = new NodeConfig({
    participants: [
      {
        name: 'counting',
        prepare: () => {
          prepares += 1;
          return Promise.resolve({ commit: () => undefined, abort: () => Promise.resolve() });
        },
      },
    ],
    meshState: options.meshState,
    metrics: options.metrics ?? new Registry(),
    log: pino({ level: 'silent' }),
  });
  return { node, prepares: () => prepares };
}
