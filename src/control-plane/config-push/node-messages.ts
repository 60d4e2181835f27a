/**
 * Checks of what nodes send on the resource stream. A node is a peer, not a
 * part of this process: every field is checked before it lands in the
 * registry, and what fails is refused (a Hello) or dropped and counted (a
 * load report, a NACK's per-resource error).
 */
import {
  MEDIA_KEY,
  parseHopBody,
  parsePlacementBody,
  PLACEMENT,
  type HopBody,
  pushedResourceTypes,
  resourceTypes,
  type PlacementBody,
  type PushedResourceRef,
  type PushedResourceType,
} from '../../config/index.js';
import {
  MAX_HELLO_RESOURCES,
  MAX_REASON_LENGTH,
  MAX_RESOURCE_ERRORS,
  MAX_RESOURCE_NAME_LENGTH,
  MAX_RESOURCE_VERSION_LENGTH,
  type Capacity,
  type LoadReport,
  type NodeMessage,
  type WireResource,
  type WireResourceRef,
  type WireResourceType,
} from '../../protocol/mesh/index.js';

const pushedTypes: ReadonlySet<string> = new Set(pushedResourceTypes);

function isPushedType(type: WireResourceType): type is PushedResourceType {
  return pushedTypes.has(type);
}

/** A resource ref from a node (config or PLACEMENT), or the reason it is not one. */
export function checkRef(ref: WireResourceRef): PushedResourceRef | string {
  if (!isPushedType(ref.type)) return `resource type ${ref.type} is not pushed to nodes`;
  if (ref.name.length === 0 || ref.name.length > MAX_RESOURCE_NAME_LENGTH) {
    return `resource name must be 1-${MAX_RESOURCE_NAME_LENGTH} characters`;
  }
  if (ref.version.length > MAX_RESOURCE_VERSION_LENGTH) {
    return `resource version must be at most ${MAX_RESOURCE_VERSION_LENGTH} characters`;
  }
  return { type: ref.type, name: ref.name, version: ref.version };
}

const configTypes: ReadonlySet<string> = new Set(resourceTypes);

/**
 * The config resources a Hello says the node holds, or why the Hello is
 * refused. PLACEMENT resources come in the Hello's `placements`, never here.
 */
export function checkHelloResources(
  refs: readonly WireResourceRef[],
): PushedResourceRef[] | string {
  if (refs.length > MAX_HELLO_RESOURCES) {
    return `a hello names at most ${MAX_HELLO_RESOURCES} resources`;
  }
  const checked: PushedResourceRef[] = [];
  for (const ref of refs) {
    if (!configTypes.has(ref.type)) return `resource type ${ref.type} is not a config resource`;
    const result = checkRef(ref);
    if (typeof result === 'string') return result;
    checked.push(result);
  }
  return checked;
}

/** One PLACEMENT a node's Hello says it holds: its ref and the body read back. */
export interface HeldPlacement {
  readonly ref: PushedResourceRef;
  readonly body: PlacementBody;
}

/** One MEDIA_KEY (a hop and its keys) a node's Hello says it holds. */
export interface HeldHop {
  readonly ref: PushedResourceRef;
  readonly body: HopBody;
}

/** The body of a Hello's resource by its type's parser, or why it is left out. */
function parseHeld<T>(bodyJson: string, parse: (body: unknown) => T | string): T | string {
  try {
    return parse(JSON.parse(bodyJson));
  } catch {
    return 'not JSON';
  }
}

/**
 * The PLACEMENT and MEDIA_KEY resources of a Hello, or why the Hello is
 * refused. A body that does not parse (or a hop named other than by its
 * hopId) is left out and counted in `dropped` (the node then counts as not
 * holding it, and is sent the current one): what a node holds is a hint for
 * a restarted control plane, not a fact it must accept.
 */
export function checkHelloPlacements(placements: readonly WireResource[]):
  | {
      readonly held: HeldPlacement[];
      readonly hops: HeldHop[];
      readonly dropped: number;
    }
  | string {
  if (placements.length > MAX_HELLO_RESOURCES) {
    return `a hello names at most ${MAX_HELLO_RESOURCES} placements`;
  }
  const held: HeldPlacement[] = [];
  const hops: HeldHop[] = [];
  let dropped = 0;
  for (const placement of placements) {
    const ref = checkRef(placement);
    if (typeof ref === 'string') return ref;
    if (ref.type === PLACEMENT) {
      const body = parseHeld(placement.bodyJson, parsePlacementBody);
      if (typeof body === 'string') dropped += 1;
      else held.push({ ref, body });
    } else if (ref.type === MEDIA_KEY) {
      const body = parseHeld(placement.bodyJson, parseHopBody);
      if (typeof body === 'string' || body.hopId !== ref.name) dropped += 1;
      else hops.push({ ref, body });
    } else {
      return `a hello's placements hold only ${PLACEMENT} and ${MEDIA_KEY} resources`;
    }
  }
  return { held, hops, dropped };
}

export interface RefusedResource {
  readonly type: PushedResourceType;
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

export type DrainDefect = 'not_finite' | 'past' | 'too_far';

/**
 * The deadline of a node's DrainRequest (Unix ms), or why it is refused: in
 * the past, or more than `maxMs` ahead of `nowMs`.
 */
export function checkDrain(
  drain: Extract<NodeMessage, { kind: 'drain' }>['drain'],
  nowMs: number,
  maxMs: number,
): number | DrainDefect {
  const deadline = drain.deadlineMs;
  if (typeof deadline !== 'number' || !Number.isFinite(deadline)) return 'not_finite';
  if (deadline <= nowMs) return 'past';
  if (deadline > nowMs + maxMs) return 'too_far';
  return deadline;
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
