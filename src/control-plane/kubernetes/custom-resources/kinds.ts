/**
 * The two custom resources of group streammesh.io, version v1alpha1, shaped
 * like Gateway API objects (spec written by people, status by the control
 * plane, status.conditions as metav1.Condition):
 *
 * - Camera (cameras, short name cam): one RTSP path the proxies serve;
 *   spec is proxy.rtsp.paths.<name> of the file, plus spec.path (the path's
 *   name, metadata.name by default).
 * - MediaRoute (mediaroutes): one RTP relay route; spec is an item of
 *   proxy.routes without its name, which is metadata.name.
 *
 * This module reads an object as the watch delivers it without trusting its
 * shape: the API server keeps spec as it was written (the CRD's schema is
 * permissive, see crd-manifests.ts), and zod decides (validate.ts).
 */

export const GROUP = 'streammesh.io';
export const VERSION = 'v1alpha1';

export interface KindNames {
  readonly kind: 'Camera' | 'MediaRoute';
  readonly listKind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
}

export const CAMERA: KindNames = {
  kind: 'Camera',
  listKind: 'CameraList',
  plural: 'cameras',
  singular: 'camera',
  shortNames: ['cam'],
};

export const MEDIA_ROUTE: KindNames = {
  kind: 'MediaRoute',
  listKind: 'MediaRouteList',
  plural: 'mediaroutes',
  singular: 'mediaroute',
  shortNames: [],
};

export const KINDS: readonly KindNames[] = [CAMERA, MEDIA_ROUTE];

export type KindName = KindNames['kind'];

/** metav1.Condition, as written to and read from status.conditions. */
export interface Condition {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
  readonly observedGeneration: number;
  readonly lastTransitionTime: string;
}

/** What the control plane uses of one object; `spec` as stored, unchecked. */
export interface CustomObject {
  readonly kind: KindName;
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly generation: number;
  readonly resourceVersion: string;
  readonly creationTimestamp: string;
  readonly spec: unknown;
  /** status.conditions as stored (only well-formed entries kept). */
  readonly conditions: readonly Condition[];
}

/**
 * An object from a list or watch, or undefined when even its metadata is
 * not what the API server writes (then it cannot be named, nor given a status).
 */
export function readObject(kind: KindName, raw: unknown): CustomObject | undefined {
  if (!isRecord(raw) || !isRecord(raw['metadata'])) return undefined;
  const metadata = raw['metadata'];
  const name = metadata['name'];
  const namespace = metadata['namespace'];
  const uid = metadata['uid'];
  if (typeof name !== 'string' || typeof namespace !== 'string' || typeof uid !== 'string') {
    return undefined;
  }
  const generation = metadata['generation'];
  const resourceVersion = metadata['resourceVersion'];
  const created = metadata['creationTimestamp'];
  return {
    kind,
    name,
    namespace,
    uid,
    generation: typeof generation === 'number' && Number.isSafeInteger(generation) ? generation : 0,
    resourceVersion: typeof resourceVersion === 'string' ? resourceVersion : '',
    creationTimestamp: typeof created === 'string' ? created : '',
    spec: raw['spec'],
    conditions: conditionsOf(raw['status']),
  };
}

function conditionsOf(status: unknown): Condition[] {
  if (!isRecord(status) || !Array.isArray(status['conditions'])) return [];
  return (status['conditions'] as unknown[]).filter(isCondition);
}

function isCondition(value: unknown): value is Condition {
  return (
    isRecord(value) &&
    typeof value['type'] === 'string' &&
    (value['status'] === 'True' || value['status'] === 'False' || value['status'] === 'Unknown') &&
    typeof value['reason'] === 'string' &&
    typeof value['message'] === 'string' &&
    typeof value['lastTransitionTime'] === 'string' &&
    (value['observedGeneration'] === undefined || typeof value['observedGeneration'] === 'number')
  );
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Older first (creationTimestamp, then name): the older of two clashing objects keeps its place. */
export function byAge(a: CustomObject, b: CustomObject): number {
  if (a.creationTimestamp !== b.creationTimestamp) {
    return a.creationTimestamp < b.creationTimestamp ? -1 : 1;
  }
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** `Camera door` — how messages and logs name an object. */
export function describeObject(object: Pick<CustomObject, 'kind' | 'name'>): string {
  return `${object.kind} ${object.name}`;
}
