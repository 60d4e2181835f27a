/**
 * Writes status.conditions through the status subresource: a JSON merge
 * patch that carries the object's resourceVersion, so a status judged from
 * an older version of the object is refused (409) rather than stored; the
 * watch then brings the newer one, which is judged again.
 *
 * One write per object at a time, and only when the conditions differ from
 * what the object holds (or what this writer last wrote and the watch has
 * not echoed yet). A failed write is left for a later pass (onFailed).
 */
import {
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from '@kubernetes/client-node';
import { errorMessage } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/log.js';
import { sameConditions } from './conditions.js';
import { GROUP, VERSION, isRecord, type Condition, type CustomObject } from './kinds.js';

/** Writes one object's status; resolves with the resourceVersion the API server gave it. */
export type PatchStatus = (
  object: CustomObject,
  conditions: readonly Condition[],
) => Promise<string>;

export function apiStatusPatcher(
  kubeConfig: KubeConfig,
  plurals: Readonly<Record<string, string>>,
): PatchStatus {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  return async (object, conditions) => {
    const plural = plurals[object.kind];
    if (plural === undefined) throw new Error(`no plural for kind ${object.kind}`);
    const patched: unknown = await api.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace: object.namespace,
        plural,
        name: object.name,
        body: { metadata: { resourceVersion: object.resourceVersion }, status: { conditions } },
        fieldManager: 'streammesh-control-plane',
      },
      options,
    );
    const metadata = isRecord(patched) && isRecord(patched['metadata']) ? patched['metadata'] : {};
    const version = metadata['resourceVersion'];
    return typeof version === 'string' ? version : '';
  };
}

interface Written {
  readonly conditions: readonly Condition[];
  /** The object's resourceVersion after the write; '' while in flight. */
  resourceVersion: string;
}

export class StatusWriter {
  readonly #patch: PatchStatus;
  readonly #log: Logger;
  readonly #written = new Map<string, Written>();
  readonly #inFlight = new Set<string>();
  readonly #onFailed: () => void;

  /** `onFailed`: a write failed; the caller passes again later. */
  constructor(patch: PatchStatus, log: Logger, onFailed: () => void) {
    this.#patch = patch;
    this.#log = log;
    this.#onFailed = onFailed;
  }

  /** Writes `conditions` to `object` unless it holds them (or they are being written). */
  write(object: CustomObject, conditions: readonly Condition[]): void {
    const written = this.#written.get(object.uid);
    // The watch echoed our write: from here on the object's own status is the truth.
    if (written !== undefined && written.resourceVersion === object.resourceVersion) {
      this.#written.delete(object.uid);
    }
    const holds = this.#written.get(object.uid)?.conditions ?? object.conditions;
    if (sameConditions(holds, conditions)) return;
    if (this.#inFlight.has(object.uid)) return;
    this.#inFlight.add(object.uid);
    const record: Written = { conditions, resourceVersion: '' };
    this.#written.set(object.uid, record);
    this.#patch(object, conditions).then(
      (resourceVersion) => {
        record.resourceVersion = resourceVersion;
        this.#inFlight.delete(object.uid);
      },
      (error: unknown) => {
        this.#inFlight.delete(object.uid);
        if (this.#written.get(object.uid) === record) this.#written.delete(object.uid);
        const status = isRecord(error) ? error['code'] : undefined;
        // 409: the object changed meanwhile; 404: it is gone. The watch tells the rest.
        const level = status === 409 || status === 404 ? 'debug' : 'warn';
        this.#log[level](
          { kind: object.kind, name: object.name, reason: errorMessage(error).slice(0, 300) },
          'custom resources: status not written',
        );
        this.#onFailed();
      },
    );
  }

  /** Forgets a deleted object. */
  forget(uid: string): void {
    this.#written.delete(uid);
  }
}
