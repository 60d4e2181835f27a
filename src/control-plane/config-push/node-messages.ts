/**
 * Checks of what nodes send on the resource stream. A node is a peer, not a
 * part of this process: every field is checked before it lands in the
 * registry, and what fails is refused (a Hello) or dropped and counted (a
 * load report, a NACK's per-resource error).
 */
import {
  MEDIA_KEY,
  meshHostPortSchema,
  meshNodeIdSchema,
  parseHopBody,
  parsePipeBody,
  parsePlacementBody,
  PIPE,
  PIPE_SRTP_SUITE,
  pipeResourceName,
  pipeSrtpSchema,
  PLACEMENT,
  roomNameSchema,
  SIGNALING_NODE,
  type HopBody,
  type PipeBody,
  type PipeSrtp,
  pushedResourceTypes,
  resourceTypes,
  type PlacementBody,
  type PushedResourceRef,
  type PushedResourceType,
} from '../../config/index.js';
import {
  MAX_HELLO_RESOURCES,
  MAX_PIPE_ENDPOINTS,
  MAX_REASON_LENGTH,
  MAX_RESOURCE_ERRORS,
  MAX_RESOURCE_NAME_LENGTH,
  MAX_RESOURCE_VERSION_LENGTH,
  MAX_ROOM_REPORTS,
  type Capacity,
  type LoadReport,
  type NodeMessage,
  type RoomReport,
  type WireResource,
  type WireResourceRef,
  type WireResourceType,
} from '../../protocol/mesh/index.js';
import { parseHostPort } from '../../shared/address.js';

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

/** One PIPE (a room's cascade pipe) a signaling node's Hello says it holds. */
export interface HeldPipe {
  readonly ref: PushedResourceRef;
  readonly body: PipeBody;
}

/**
 * The PLACEMENT, MEDIA_KEY and PIPE resources of a Hello (and the
 * SIGNALING_NODE refs a signaling node may return), or why the Hello is
 * refused. A body that does not parse (or a hop or pipe named other than by
 * its id) is left out and counted in `dropped` (the node then counts as not
 * holding it, and is sent the current one): what a node holds is a hint for
 * a restarted control plane, not a fact it must accept. SIGNALING_NODE
 * bodies are not read: the control plane makes them again from its
 * registry, and a ref only spares the node a resend.
 */
export function checkHelloPlacements(placements: readonly WireResource[]):
  | {
      readonly held: HeldPlacement[];
      readonly hops: HeldHop[];
      /** Present when the Hello holds some (a signaling node's; proxies' Hellos keep their shape). */
      readonly pipes?: HeldPipe[];
      readonly signalingNodes?: PushedResourceRef[];
      readonly dropped: number;
    }
  | string {
  if (placements.length > MAX_HELLO_RESOURCES) {
    return `a hello names at most ${MAX_HELLO_RESOURCES} placements`;
  }
  const held: HeldPlacement[] = [];
  const hops: HeldHop[] = [];
  const pipes: HeldPipe[] = [];
  const signalingNodes: PushedResourceRef[] = [];
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
    } else if (ref.type === PIPE) {
      const body = parseHeld(placement.bodyJson, (json) => parsePipeBody(ref.name, json));
      if (typeof body === 'string') dropped += 1;
      else pipes.push({ ref, body });
    } else if (ref.type === SIGNALING_NODE) {
      signalingNodes.push(ref);
    } else {
      return `a hello's placements hold only ${PLACEMENT}, ${MEDIA_KEY}, ${PIPE} and ${SIGNALING_NODE} resources`;
    }
  }
  return {
    held,
    hops,
    ...(pipes.length > 0 ? { pipes } : {}),
    ...(signalingNodes.length > 0 ? { signalingNodes } : {}),
    dropped,
  };
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
    // A signaling node's (issue 18); absent from older nodes.
    ...[load.producers, load.consumers, load.workerCpuCores].filter((value) => value !== undefined),
  ];
  if (figures.some((value) => typeof value !== 'number' || !Number.isFinite(value))) {
    return 'not_finite';
  }
  if (figures.some((value) => value < 0)) return 'negative';
  if (figures.some((value) => value > MAX_MEASURE)) return 'too_large';
  return { ...load, capacity };
}

/** Why a RoomReports set is dropped: the label of streammesh_control_plane_bad_room_reports_total. */
export type RoomReportsDefect =
  'not_signaling' | 'rate_limited' | 'too_many' | 'bad_room' | 'duplicate_room' | 'bad_count';

/** Peers or producers one room of one node may claim; more is a broken or hostile report. */
const MAX_ROOM_COUNT = 1_000_000;

/**
 * A signaling node's rooms, checked, or why the whole set is dropped (the
 * node's previous set then stays in force: a half-understood set must not
 * take a room away from a node still serving it). `maxRooms`: the most one
 * node may report (the control plane's per-node cap), at most
 * MAX_ROOM_REPORTS.
 */
export function checkRoomReports(
  reports: Extract<NodeMessage, { kind: 'rooms' }>['rooms'],
  maxRooms = MAX_ROOM_REPORTS,
): RoomReport[] | Exclude<RoomReportsDefect, 'not_signaling' | 'rate_limited'> {
  if (reports.rooms.length > Math.min(maxRooms, MAX_ROOM_REPORTS)) return 'too_many';
  const seen = new Set<string>();
  const checked: RoomReport[] = [];
  for (const { room, peers, producers } of reports.rooms) {
    if (!roomNameSchema.safeParse(room).success) return 'bad_room';
    if (seen.has(room)) return 'duplicate_room';
    if (!isCount(peers) || !isCount(producers)) return 'bad_count';
    seen.add(room);
    checked.push({ room, peers, producers });
  }
  return checked;
}

function isCount(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= MAX_ROOM_COUNT;
}

/** Why a PipeEndpoints set is dropped: the label of streammesh_control_plane_bad_pipe_endpoints_total. */
export type PipeEndpointsDefect =
  | 'not_signaling'
  | 'rate_limited'
  | 'too_many'
  | 'bad_pipe_id'
  | 'not_own_pipe'
  | 'duplicate_pipe'
  | 'bad_address'
  | 'bad_suite'
  | 'bad_key';

/** One end of a pipe as its node reported it, checked. */
export interface CheckedPipeEndpoint {
  readonly pipeId: string;
  readonly room: string;
  readonly address: string;
  readonly srtp: PipeSrtp;
}

/** Room and ends of a pipe id `pipe/<room>/<a>~<b>`, when it is one (a < b). */
export function parsePipeId(
  pipeId: string,
): { readonly room: string; readonly a: string; readonly b: string } | undefined {
  const match = /^pipe\/([^/]+)\/([^/~]+)~([^/~]+)$/.exec(pipeId);
  if (match === null) return undefined;
  const [, room = '', a = '', b = ''] = match;
  if (!roomNameSchema.safeParse(room).success) return undefined;
  if (!meshNodeIdSchema.safeParse(a).success || !meshNodeIdSchema.safeParse(b).success) {
    return undefined;
  }
  // Ends in order and distinct: a pipe joins two nodes.
  if (!(a < b) || pipeResourceName(room, a, b) !== pipeId) return undefined;
  return { room, a, b };
}

/**
 * Node `sender`'s pipe ends, checked, or why the whole set is dropped. Each
 * must name a pipe `sender` is an end of: a node speaks for its own end
 * only. With `hosts` (registeredHostsOf the sender), each end's address
 * must be on one of them (`bad_address` otherwise): the other end sends the
 * room's media there, and a node that could name any host would aim its
 * peers' media at a third party (review finding 11). The reasons name what
 * is wrong, never the value (a key must not reach a log or a metric).
 */
export function checkPipeEndpoints(
  sender: string,
  endpoints: Extract<NodeMessage, { kind: 'pipes' }>['pipes'],
  hosts?: ReadonlySet<string>,
): CheckedPipeEndpoint[] | Exclude<PipeEndpointsDefect, 'not_signaling' | 'rate_limited'> {
  if (endpoints.endpoints.length > MAX_PIPE_ENDPOINTS) return 'too_many';
  const seen = new Set<string>();
  const checked: CheckedPipeEndpoint[] = [];
  for (const endpoint of endpoints.endpoints) {
    const ends = parsePipeId(endpoint.pipeId);
    if (ends === undefined) return 'bad_pipe_id';
    if (ends.a !== sender && ends.b !== sender) return 'not_own_pipe';
    if (seen.has(endpoint.pipeId)) return 'duplicate_pipe';
    if (!isPipeAddress(endpoint.address)) return 'bad_address';
    if (hosts !== undefined && !hosts.has(hostOf(endpoint.address))) return 'bad_address';
    if (endpoint.srtpCryptoSuite !== PIPE_SRTP_SUITE) return 'bad_suite';
    const srtp = pipeSrtpSchema.safeParse({
      cryptoSuite: endpoint.srtpCryptoSuite,
      keyBase64: endpoint.srtpKeyBase64,
    });
    if (!srtp.success || !decodesTo44Bytes(endpoint.srtpKeyBase64)) return 'bad_key';
    seen.add(endpoint.pipeId);
    checked.push({
      pipeId: endpoint.pipeId,
      room: ends.room,
      address: endpoint.address,
      srtp: srtp.data,
    });
  }
  return checked;
}

/**
 * The listen addresses whose host a signaling node's pipe ends may use:
 * its `signaling`, `cascade` and `rtc` addresses (host:port, or a bare
 * host for `rtc`) and the host of its `signaling_url`. Hosts are compared
 * lowercased, IPv6 without brackets; a wildcard (0.0.0.0, ::) names no host.
 */
export const PIPE_HOST_LISTEN_ADDRESSES = ['signaling', 'cascade', 'rtc'] as const;
export const PIPE_HOST_URL_ADDRESS = 'signaling_url';

export function registeredHostsOf(
  listenAddresses: Readonly<Record<string, string>>,
): ReadonlySet<string> {
  const hosts = new Set<string>();
  const add = (host: string): void => {
    const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
    if (bare !== '' && bare !== '0.0.0.0' && bare !== '::') hosts.add(bare);
  };
  for (const key of PIPE_HOST_LISTEN_ADDRESSES) {
    const address = listenAddresses[key];
    if (address === undefined) continue;
    const parsed = parseHostPort(address);
    add(typeof parsed === 'string' ? address : parsed.host);
  }
  const url = listenAddresses[PIPE_HOST_URL_ADDRESS];
  if (url !== undefined && URL.canParse(url)) add(new URL(url).hostname);
  return hosts;
}

/** The host of an address isPipeAddress passed, as registeredHostsOf keeps hosts. */
function hostOf(address: string): string {
  const parsed = parseHostPort(address);
  return typeof parsed === 'string' ? '' : parsed.host.toLowerCase();
}

/** A host:port the PIPE body takes, with a port a socket can have. */
function isPipeAddress(address: string): boolean {
  if (!meshHostPortSchema.safeParse(address).success) return false;
  const parsed = parseHostPort(address);
  return typeof parsed !== 'string' && parsed.port > 0;
}

/** AES-256-GCM's 32 bytes of key and 12 of salt: what mediasoup's pipe makes and takes. */
function decodesTo44Bytes(keyBase64: string): boolean {
  return Buffer.from(keyBase64, 'base64').length === 44;
}
