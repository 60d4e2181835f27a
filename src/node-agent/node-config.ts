/**
 * The config a node holds, as typed resources (src/config/resources.ts), and
 * how an update from the control plane changes it: the update is applied to
 * a copy of the set, assembled and validated as a whole, and put in force by
 * the role's participants as one transaction. A refusal names the resources
 * at fault and leaves the set exactly as it was; a commit that throws (a bug:
 * every commit has run by then) leaves the new config in force, so the set
 * and the ACK say so too, and the bug is logged and counted.
 *
 * PLACEMENT, MEDIA_KEY, TRUST_BUNDLE, SIGNALING_NODE and PIPE resources
 * travel in the same updates but are not config: they go to the node's
 * MeshState (mesh-state.ts), never into assembleConfig, and an update that
 * changes only them runs no transaction. A bad body of any of them refuses
 * its whole update like a bad config body does.
 */
import { Counter, type Registry } from 'prom-client';
import {
  assembleConfig,
  refusedResourcesOf,
  resourceKey,
  resourcesNamedByRefusal,
  ResourcesRefusedError,
  resourceTypes,
  type MeshConfig,
  type MeshResource,
  type PushedResourceRef,
  type ResourceIssue,
  type ResourceRef,
  type ResourceType,
} from '../config/index.js';
import { errorMessage, StreammeshError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { ResourceUpdate } from '../protocol/mesh/index.js';
import { meshStateTypes, type MeshState } from './mesh-state.js';
import {
  applyConfigTransaction,
  CommitFailedError,
  ConfigRefusedError,
  type ConfigParticipant,
} from './config-transaction.js';

export interface AppliedConfig {
  readonly version: string;
  readonly config: MeshConfig;
  readonly appliedAt: string;
}

/** An update reached a node that is closing: its services may be closed already. */
export class NodeClosedError extends StreammeshError {
  constructor() {
    super('ERR_NODE_CLOSED', 'the node is closing; the update is not applied');
  }
}

/** An update the node refused, while no later one has been applied. */
export interface LastRefusal {
  readonly message: string;
  readonly at: string;
}

export interface NodeConfigOptions {
  readonly participants: readonly ConfigParticipant[];
  /** Where the resources of meshStateTypes go; without it they are refused as not served. */
  readonly meshState?: MeshState;
  readonly metrics: Registry;
  readonly log: Logger;
}

export class NodeConfig {
  readonly #options: NodeConfigOptions;
  #applied: AppliedConfig | undefined;
  /** The resources the applied config was assembled from, by resourceKey. */
  #resources: ReadonlyMap<string, MeshResource> = new Map();
  readonly #applies: Counter;
  readonly #commitFailures: Counter;
  /**
   * The update being applied, if any: the one guard that keeps transactions
   * one at a time, whoever calls apply(), so no participant ever sees a
   * second prepare before the first is committed or aborted.
   */
  #inFlight: Promise<unknown> = Promise.resolve();
  #closed = false;
  #lastRefusal: LastRefusal | undefined;
  /**
   * The last update that carried config resources was refused: the config in
   * force is older than the control plane's version, and a later update
   * without config resources (placements, keys...) stamped with that version
   * must not make the refused version look applied (/config_dump).
   */
  #configBehind = false;
  #settleFirst: { resolve(): void; reject(error: unknown): void } | undefined;
  /**
   * The outcome of the first update: resolves once it is applied, rejects
   * with its refusal. A role is not ready before (its listeners are bound by
   * the config), and one whose first config is refused cannot start.
   */
  readonly firstOutcome: Promise<void>;

  constructor(options: NodeConfigOptions) {
    this.#options = options;
    this.firstOutcome = new Promise<void>((resolve, reject) => {
      this.#settleFirst = { resolve, reject };
    });
    // Nobody need wait for it; its refusal is not an unhandled rejection.
    this.firstOutcome.catch(() => undefined);
    this.#applies = new Counter({
      name: 'streammesh_node_config_applies_total',
      help: 'Config updates received, by result (ack or nack).',
      labelNames: ['result'],
      registers: [options.metrics],
    });
    this.#commitFailures = new Counter({
      name: 'streammesh_node_config_commit_failures_total',
      help: 'Config commits that threw (a bug: commits must not fail); the config was still put in force.',
      registers: [options.metrics],
    });
  }

  get applied(): AppliedConfig | undefined {
    return this.#applied;
  }

  /** Why the last update was refused, unless one was applied since. */
  get lastRefusal(): LastRefusal | undefined {
    return this.#lastRefusal;
  }

  /** The resources the node holds, by type and name. */
  heldResources(): ResourceRef[] {
    return [...this.#resources.values()].map(({ type, name, version }) => ({
      type,
      name,
      version,
    }));
  }

  /**
   * Applies an update; returns the resources now held from it, or throws a
   * ResourcesRefusedError naming the resources at fault (the set unchanged).
   * Updates are applied one at a time, in call order; after close() none is.
   */
  apply(update: ResourceUpdate): Promise<readonly PushedResourceRef[]> {
    const result = this.#inFlight.then(() => {
      if (this.#closed) throw new NodeClosedError();
      return this.#applyNow(update);
    });
    this.#inFlight = result.catch(() => undefined);
    return result;
  }

  /** Takes no more updates; resolves once the one in flight has committed or aborted. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#inFlight;
  }

  async #applyNow(update: ResourceUpdate): Promise<readonly PushedResourceRef[]> {
    const source = `update ${update.systemVersion}`;
    const meshState = this.#options.meshState;
    try {
      const { candidate, issues } = candidateResources(
        this.#resources,
        update,
        meshState !== undefined,
      );
      const staged = meshState?.stage(update);
      const allIssues = [...issues, ...(staged?.issues ?? [])];
      if (allIssues.length > 0) throw new ResourcesRefusedError(source, allIssues);
      const refs: PushedResourceRef[] = update.resources.flatMap(({ type, name, version }) =>
        isConfigType(type) ? [{ type, name, version }] : [],
      );
      if (meshState !== undefined) refs.push(...meshState.refs(update));
      const unchanged =
        this.#applied !== undefined &&
        candidate.size === this.#resources.size &&
        [...candidate].every(([key, item]) => this.#resources.get(key)?.version === item.version);
      let config = this.#applied?.config;
      if (!unchanged || config === undefined) {
        config = assembleConfig([...candidate.values()], source);
        await this.#transaction(config, update, candidate, source);
      }
      const carriesConfig = carriesConfigResources(update);
      const onlyPlacements = !carriesConfig && update.resources.length + update.removed.length > 0;
      this.#resources = candidate;
      if (staged !== undefined) meshState?.commit(staged);
      // A placement update of the same config version leaves the config's
      // record (and its appliedAt) as it was: the config did not change. One
      // stamped with a version whose config this node refused leaves it too:
      // the control plane sends non-config resources apart from the config,
      // under its current version, also after the config part was NACKed.
      const stamp =
        this.#applied === undefined ||
        carriesConfig ||
        (!this.#configBehind &&
          (!onlyPlacements || this.#applied.version !== update.systemVersion));
      if (carriesConfig) this.#configBehind = false;
      if (stamp) {
        this.#applied = {
          version: update.systemVersion,
          config,
          appliedAt: new Date().toISOString(),
        };
      }
      this.#applies.inc({ result: 'ack' });
      this.#lastRefusal = undefined;
      this.#settleFirst?.resolve();
      this.#settleFirst = undefined;
      // The mesh-wide level applies unless this process was given its own.
      if (process.env['STREAMMESH_LOG_LEVEL'] === undefined) {
        this.#options.log.level = config.logLevel;
      }
      // Placements move with nodes, every few seconds in a busy mesh: not worth an info line each.
      this.#options.log[onlyPlacements ? 'debug' : 'info'](
        { version: update.systemVersion, resources: refs.length, removed: update.removed.length },
        onlyPlacements ? 'placements applied' : 'config applied',
      );
      return refs;
    } catch (error) {
      this.#applies.inc({ result: 'nack' });
      if (carriesConfigResources(update)) this.#configBehind = true;
      this.#lastRefusal = { message: errorMessage(error), at: new Date().toISOString() };
      this.#settleFirst?.reject(error);
      this.#settleFirst = undefined;
      throw error;
    }
  }

  /**
   * Runs the transaction. A participant's refusal is traced to the resources
   * it names; a commit that threw is a bug reported here, not a refusal: all
   * commits have run, so the candidate is in force.
   */
  async #transaction(
    config: MeshConfig,
    update: ResourceUpdate,
    candidate: ReadonlyMap<string, MeshResource>,
    source: string,
  ): Promise<void> {
    const participants = this.#options.participants;
    try {
      await applyConfigTransaction(participants, config);
    } catch (error) {
      if (error instanceof CommitFailedError) {
        this.#commitFailures.inc();
        this.#options.log.error(
          { err: error, version: update.systemVersion },
          'BUG: a config commit threw; the new config is in force anyway and is acknowledged',
        );
        return;
      }
      if (!(error instanceof ConfigRefusedError)) throw error;
      const types = participants.find(({ name }) => name === error.participant)?.resourceTypes;
      const named = refusedInUpdate(error, types, update, candidate);
      throw new ResourcesRefusedError(
        source,
        named.map(({ type, name }) => ({ type, name, reason: error.message })),
        error.message,
      );
    }
  }
}

/**
 * The resources of `update` a refusal is about: those its error names
 * (ResourceRefusal), if the update carries any of them; else those of the
 * participant's types whose name or listen address its message quotes, else
 * all of its types, else the whole update (resourcesNamedByRefusal).
 */
function refusedInUpdate(
  error: ConfigRefusedError,
  participantTypes: readonly ResourceType[] | undefined,
  update: ResourceUpdate,
  candidate: ReadonlyMap<string, MeshResource>,
): ResourceRef[] {
  // The update's resources with their bodies (a removed one has none), so a
  // refusal that quotes a listen address can be traced to its resource.
  const inUpdate = [...update.resources, ...update.removed].flatMap((ref) =>
    isConfigType(ref.type)
      ? [
          {
            type: ref.type,
            name: ref.name,
            version: ref.version,
            body: candidate.get(resourceKey(ref))?.body,
          },
        ]
      : [],
  );
  const structured = new Set((refusedResourcesOf(error.cause) ?? []).map(resourceKey));
  const named = inUpdate.filter((ref) => structured.has(resourceKey(ref)));
  if (named.length > 0) return named.map(({ type, name, version }) => ({ type, name, version }));
  if (structured.size > 0) {
    // The refused resources are held, not in this update (a held route that
    // cannot follow a new mediaAddress): the update's part for that service.
    const ofParticipant = inUpdate.filter((ref) => participantTypes?.includes(ref.type) ?? true);
    const refs = ofParticipant.length > 0 ? ofParticipant : inUpdate;
    return refs.map(({ type, name, version }) => ({ type, name, version }));
  }
  return resourcesNamedByRefusal(participantTypes, error.message, inUpdate);
}

const configTypes: ReadonlySet<string> = new Set(resourceTypes);

/** Whether an update adds, replaces or removes any config resource (not only mesh state). */
function carriesConfigResources(update: ResourceUpdate): boolean {
  return [...update.resources, ...update.removed].some(({ type }) => !meshStateTypes.has(type));
}

function isConfigType(type: string): type is ResourceType {
  return configTypes.has(type);
}

/**
 * The node's config set with the update applied: removals dropped,
 * resources added or replaced. A body that is not JSON, or of a type this
 * node does not serve, is an issue of that resource. PLACEMENT resources are
 * left to Placements when the node keeps them.
 */
function candidateResources(
  current: ReadonlyMap<string, MeshResource>,
  update: ResourceUpdate,
  keepsPlacements: boolean,
): { candidate: Map<string, MeshResource>; issues: ResourceIssue[] } {
  const candidate = new Map(current);
  const issues: ResourceIssue[] = [];
  for (const ref of update.removed) candidate.delete(resourceKey(ref));
  for (const wire of update.resources) {
    if (keepsPlacements && meshStateTypes.has(wire.type)) continue;
    if (!isConfigType(wire.type)) {
      const type = wire.type as ResourceType;
      issues.push({ type, name: wire.name, reason: `${wire.type} is not served by this node` });
      continue;
    }
    let body: unknown;
    try {
      body = JSON.parse(wire.bodyJson);
    } catch (error) {
      issues.push({
        type: wire.type,
        name: wire.name,
        reason: `body is not JSON: ${errorMessage(error)}`,
      });
      continue;
    }
    candidate.set(resourceKey(wire), {
      type: wire.type,
      name: wire.name,
      version: wire.version,
      order: wire.order,
      body,
    });
  }
  return { candidate, issues };
}
