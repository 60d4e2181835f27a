/**
 * Checks of what nodes send on the resource stream. A node is a peer, not a
 * part of this process: every field is checked before it lands in the
 * registry, and what fails is refused (a Hello) or dropped and counted (a
 * load report, a NACK's per-resource error).
 */
import { resourceTypes, type ResourceRef, type ResourceType } from '../../config/index.js';
import {
  MAX_HELLO_RESOURCES,
  MAX_REASON_LENGTH,
  MAX_RESOURCE_ERRORS,
  MAX_RESOURCE_NAME_LENGTH,
  MAX_RESOURCE_VERSION_LENGTH,
  type Capacity,
  type LoadReport,
  type NodeMessage,
  type WireResourceRef,
  type WireResourceType,
} from '../../protocol/mesh/index.js';

const configTypes: ReadonlySet<string> = new Set(resourceTypes);

function isConfigType(type: WireResourceType): type is ResourceType {
  return configTypes.has(type);
}

/** A resource ref from a node, or the reason it is not one. */
export function checkRef(ref: WireResourceRef): ResourceRef | string {
  if (!isConfigType(ref.type)) return `resource type ${ref.type} is not a config resource`;
  if (ref.name.length === 0 || ref.name.length > MAX_RESOURCE_NAME_LENGTH) {
    return `resource name must be 1-${MAX_RESOURCE_NAME_LENGTH} characters`;
  }
  if (ref.version.length > MAX_RESOURCE_VERSION_LENGTH) {
    return `resource version must be at most ${MAX_RESOURCE_VERSION_LENGTH} characters`;
  }
  return { type: ref.type, name: ref.name, version: ref.version };
}

/** The resources a Hello says the node holds, or why the Hello is refused. */
export function checkHelloResources(refs: readonly WireResourceRef[]): ResourceRef[] | string {
  if (refs.length > MAX_HELLO_RESOURCES) {
    return `a hello names at most ${MAX_HELLO_RESOURCES} resources`;
  }
  const checked: ResourceRef[] = [];
  for (const ref of refs) {
    const result = checkRef(ref);
    if (typeof result === 'string') return result;
    checked.push(result);
  }
  return checked;
}

export interface RefusedResource {
  readonly type: ResourceType;
  readonly name: string;
  readonly reason: string;
}

/** A NACK's per-resource errors that name a config resource, reasons cut to length. */
export function checkNackErrors(
  nack: Extract<NodeMessage, { kind: 'nack' }>['nack'],
): RefusedResource[] {
  const refused: RefusedResource[] = [];
  for (const error of nack.errors.slice(0, MAX_RESOURCE_ERRORS)) {
    if (error.resource === null) continue;
    const ref = checkRef(error.resource);
    if (typeof ref === 'string') continue;
    refused.push({
      type: ref.type,
      name: ref.name,
      reason: error.reason.slice(0, MAX_REASON_LENGTH),
    });
  }
  return refused;
}

/** No measure of one node comes near this; larger is a broken or hostile report. */
const MAX_MEASURE = 1e15;

export type LoadDefect = 'not_finite' | 'negative' | 'too_large' | 'no_capacity';

/** A load report whose every figure is a finite, non-negative, plausible number; or why not. */
export function checkLoad(
  load: Extract<NodeMessage, { kind: 'load' }>['load'],
): (LoadReport & { capacity: Capacity }) | LoadDefect {
  const { capacity } = load;
  if (capacity === null) return 'no_capacity';
  const figures = [
    load.sentAtMs,
    load.packetsPerSecond,
    load.bitrateBps,
    load.cpuCores,
    load.sessions,
    capacity.packetsPerSecond,
    capacity.bitrateBps,
    capacity.sessions,
  ];
  if (figures.some((value) => typeof value !== 'number' || !Number.isFinite(value))) {
    return 'not_finite';
  }
  if (figures.some((value) => value < 0)) return 'negative';
  if (figures.some((value) => value > MAX_MEASURE)) return 'too_large';
  return { ...load, capacity };
}
