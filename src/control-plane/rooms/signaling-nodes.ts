/**
 * The SIGNALING_NODE feed (issue 18): one resource per live signaling
 * node, made from the registry and pushed to every signaling node, so each
 * knows where to send a participant (its `url`) and where to open the
 * cascade link to a node it shares a room with (its `link`, accepted only
 * under its `identity`).
 *
 * From each ROLE_SIGNALING record: identity = the SPIFFE ID it registered
 * with (null without mTLS), url = its `signaling_url` listen address if it
 * registered one (its public base, signaling.publicUrl) else `http://` +
 * its `signaling` address, link = its `cascade` address, draining = the
 * registry's drain. A node that registered no `cascade` address (an older
 * node, one without cascading) gets no resource, nor does a stale one (a
 * redirect to it would fail) nor one whose addresses do not make a body
 * the schema takes (a node would NACK it).
 *
 * Recomputed on a registration or a drain at once and every
 * reconcileIntervalMs (staleness); 'change' only when some body changed.
 */
import { EventEmitter } from 'node:events';
import {
  signalingNodeBodySchema,
  signalingNodeResource,
  type PushedResource,
  type SignalingNodeBody,
} from '../../config/index.js';
import type { Logger } from '../../shared/log.js';
import { DEFAULT_RECONCILE_INTERVAL_MS } from '../placement/index.js';
import type { NodeRecord, Registry } from '../registry/index.js';

/** The listen addresses a signaling node registers for the cascade. */
export const SIGNALING_LISTEN_ADDRESS = 'signaling';
export const SIGNALING_URL_LISTEN_ADDRESS = 'signaling_url';
export const CASCADE_LISTEN_ADDRESS = 'cascade';

export interface SignalingNodesOptions {
  readonly registry: Registry;
  readonly log: Logger;
  readonly reconcileIntervalMs?: number;
}

export interface SignalingNodesEvents {
  /** Some SIGNALING_NODE resource came, changed or went: push them. */
  change: [];
}

export class SignalingNodes extends EventEmitter<SignalingNodesEvents> {
  readonly #options: SignalingNodesOptions;
  #resources = new Map<string, PushedResource>();
  #tick: NodeJS.Timeout | undefined;
  readonly #onInput = (): void => {
    this.reconcile();
  };

  constructor(options: SignalingNodesOptions) {
    super();
    this.#options = options;
  }

  start(): void {
    this.#options.registry.on('registered', this.#onInput);
    this.#options.registry.on('drain', this.#onInput);
    this.#tick = setInterval(
      () => this.reconcile(),
      this.#options.reconcileIntervalMs ?? DEFAULT_RECONCILE_INTERVAL_MS,
    );
    this.#tick.unref();
    this.reconcile();
  }

  close(): void {
    this.#options.registry.off('registered', this.#onInput);
    this.#options.registry.off('drain', this.#onInput);
    clearInterval(this.#tick);
  }

  /** The SIGNALING_NODE resources every signaling node should hold. */
  resources(): readonly PushedResource[] {
    return [...this.#resources.values()];
  }

  /** The body of node `id` now, if it has one. */
  bodyOf(id: string): SignalingNodeBody | undefined {
    return this.#resources.get(id)?.body as SignalingNodeBody | undefined;
  }

  reconcile(): void {
    const next = new Map<string, PushedResource>();
    const { registry } = this.#options;
    for (const record of registry.records()) {
      if (record.role !== 'ROLE_SIGNALING' || registry.stateOf(record) === 'stale') continue;
      const body = signalingNodeBodyOf(record);
      if (body === undefined) continue;
      next.set(record.id, signalingNodeResource(body));
    }
    const changed =
      next.size !== this.#resources.size ||
      [...next].some(([id, resource]) => this.#resources.get(id)?.version !== resource.version);
    this.#resources = next;
    if (changed) {
      this.#options.log.debug({ nodes: next.size }, 'signaling nodes changed');
      this.emit('change');
    }
  }
}

/** A signaling node's SIGNALING_NODE body from its registry record, or undefined (see header). */
export function signalingNodeBodyOf(record: NodeRecord): SignalingNodeBody | undefined {
  const addresses = record.listenAddresses;
  const link = addresses[CASCADE_LISTEN_ADDRESS];
  if (link === undefined) return undefined;
  const publicUrl = addresses[SIGNALING_URL_LISTEN_ADDRESS];
  const listen = addresses[SIGNALING_LISTEN_ADDRESS];
  const url = publicUrl ?? (listen === undefined ? undefined : `http://${listen}`);
  if (url === undefined) return undefined;
  const parsed = signalingNodeBodySchema.safeParse({
    node: record.id,
    identity: record.spiffeId,
    url,
    link,
    draining: record.draining !== undefined,
  });
  return parsed.success ? parsed.data : undefined;
}
