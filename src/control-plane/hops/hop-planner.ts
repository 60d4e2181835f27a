/**
 * The control plane's side of camera hops: which proxy sends which camera
 * stream to which other proxy, with which SRTP keys. A camera is pulled
 * once by the whole mesh, by its owner (the placement's node); a proxy with
 * viewers of it elsewhere (an edge) asks for it in its HopRequests, and gets
 * it over a hop from the owner. Each hop is a MEDIA_KEY resource
 * (src/config/hop-resource.ts, whose header holds the rules) pushed to its
 * two nodes only.
 *
 * - A hop exists for each request (receiver R, session S) whose owner
 *   O = placement(S) is set, is not R, is healthy (not stale) and registered
 *   a `hop` listen address. Its first key is epoch 1.
 * - Owner moves: a move for a failure ends the old hop at once (its sender
 *   is gone); a drain (`node_drained`) keeps it until the new hop is held by
 *   both its nodes plus handoverMs, so the receiver switches at a keyframe
 *   of the new stream with the old one still flowing. When the receiver
 *   itself is the new owner there is no new hop: the old one stays until
 *   the receiver holds the placement that makes it the owner, plus
 *   handoverMs, for it to pull the camera and switch.
 * - Rotation, every hopKeyRotationSec: add epoch n+1 (the sender stays on
 *   n); once the receiver holds a version carrying n+1, the sender moves to
 *   n+1; the next rotation drops what is older than n. A key is valid for
 *   three periods, and its period is read back from the newest key's
 *   notAfter, so a restart keeps the schedule. A hop id removed and made
 *   again continues from the epoch after its last one (while this process
 *   remembers it): one (hopId, epoch) never names two keys.
 * - Restart: during the placement grace the nodes' Hellos return the hops
 *   they hold, with keys; they are taken back exactly (both ends' keys
 *   merged by epoch), so a restart makes no key. Nothing else changes
 *   during the grace; after it, a restored hop whose request did not come
 *   back goes.
 * - A node's requests stay while its stream is closed and it is not stale
 *   (a reconnecting node sends them again after its Hello).
 * - Identity: each hop body names both ends' SPIFFE IDs (the IDs their
 *   certificates had when they registered), so each node can check that a
 *   key came for it. With `requireIdentity` (controlPlane.mtls) a hop is
 *   made only between two nodes that registered with a certificate: keys go
 *   to authenticated nodes only.
 * - When: on a request set, a placement or config change and a node's ACK,
 *   and every reconcileIntervalMs (rotation times, handovers, staleness). A
 *   pass that changes some node's MEDIA_KEY set emits 'change' once.
 */
import { EventEmitter } from 'node:events';
import { Counter, type Registry as MetricsRegistry } from 'prom-client';
import {
  hopResource,
  hopResourceName,
  MAX_HOP_KEYS,
  MEDIA_KEY,
  PLACEMENT,
  placementResource,
  type HopBody,
  type PlacementBody,
  type PushedResource,
} from '../../config/index.js';
import {
  MAX_RESOURCE_NAME_LENGTH,
  type HopRequests,
  type Role,
} from '../../protocol/mesh/index.js';
import { generateHopKey, maxHopEpoch, type HopKey } from '../../protocol/srtp/index.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { sessionKeys, CAMERA_KEY_PREFIX, type ConfigSource } from '../placement/index.js';
import type { NodeRecord, Registry } from '../registry/index.js';
import { checkHopRequests, isHopAddress } from './hop-requests.js';

/** How long a drained owner's hop outlives the new one's ACK by both nodes. */
export const DEFAULT_HANDOVER_MS = 2_000;
export const DEFAULT_HOP_RECONCILE_INTERVAL_MS = 200;
/** The listen address a proxy registers for its hop socket. */
export const HOP_LISTEN_ADDRESS = 'hop';
/** Removed hop ids whose last epoch is remembered (oldest forgotten first). */
const MAX_RETIRED = 100_000;
/** A key stays valid for this many rotation periods. */
const KEY_LIFETIME_PERIODS = 3;

/** Where sessions are placed (the PlacementService; a test may inject its own). */
export interface SessionPlacements {
  /** True during the grace after start: hops are restored, not planned. */
  readonly restoring: boolean;
  /** The session's PLACEMENT body now, or undefined. */
  placementOf(session: string): PlacementBody | undefined;
  on(event: 'change', listener: () => void): unknown;
  off(event: 'change', listener: () => void): unknown;
}

export interface HopPlannerOptions {
  readonly store: ConfigSource;
  readonly registry: Registry;
  readonly placements: SessionPlacements;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: MetricsRegistry;
  readonly handoverMs?: number;
  readonly reconcileIntervalMs?: number;
  /** Hops only between nodes registered with a certificate (controlPlane.mtls). */
  readonly requireIdentity?: boolean;
}

/** One key as the admin views show it: never its material. */
export interface HopKeyView {
  readonly epoch: number;
  readonly notAfter: string;
}

/** Who a hop joins and where: a hop body without its keys. */
type HopEnds = Pick<
  HopBody,
  | 'hopId'
  | 'session'
  | 'sender'
  | 'receiver'
  | 'senderAddress'
  | 'receiverAddress'
  | 'senderIdentity'
  | 'receiverIdentity'
>;

/** One hop as GET /hops shows it. */
export interface HopView extends HopEnds {
  readonly keys: HopKeyView[];
  readonly sendEpoch: number;
  readonly since: string;
  /** `retiring`: kept during a drain's handover until its successor is held. */
  readonly state: 'active' | 'restored' | 'retiring';
}

export interface HopsView {
  readonly restoring: boolean;
  readonly rotationSec: number;
  readonly hops: HopView[];
}

export interface HopPlannerEvents {
  /** Some node's MEDIA_KEY resources changed: push them. */
  change: [];
}

interface Hop {
  body: HopBody;
  resource: PushedResource;
  readonly sinceMs: number;
  /** Taken from a Hello and not yet asked for again. */
  restored: boolean;
  /** Kept during a handover (not wanted any more). */
  retiring: boolean;
  /** The epoch the last rotation added and the sender does not use yet, and the versions holding it. */
  pending: { readonly epoch: number; readonly versions: Set<string> } | undefined;
  /** When both nodes first held a version of it. */
  heldByBothAtMs: number | undefined;
  /** During a drain to its own receiver: when the receiver first held the placement. */
  takenOverAtMs: number | undefined;
}

/** A hop the requests and placements call for. */
type WantedHop = HopEnds;

export class HopPlanner extends EventEmitter<HopPlannerEvents> {
  readonly #options: HopPlannerOptions;
  readonly #handoverMs: number;
  /** Per receiving node: session key -> receiving address. */
  readonly #requests = new Map<string, Map<string, string>>();
  readonly #hops = new Map<string, Hop>();
  /** Per node: the ids of the hops it sends or receives. */
  readonly #byNode = new Map<string, Set<string>>();
  /** Per removed hop id: its newest epoch, so a hop made again never reuses one. */
  readonly #retired = new Map<string, number>();
  readonly #badRequests: Counter;
  #cameras: { readonly version: string; readonly keys: ReadonlySet<string> } | undefined;
  #changed = false;
  #tick: NodeJS.Timeout | undefined;
  readonly #onInput = (): void => {
    this.reconcile();
  };

  /** Hellos during the restore grace: whose hops each node held, judged after it. */
  readonly #greetedWhileRestoring = new Map<string, ReadonlySet<string>>();

  constructor(options: HopPlannerOptions) {
    super();
    this.#options = options;
    this.#handoverMs = options.handoverMs ?? DEFAULT_HANDOVER_MS;
    this.#badRequests = new Counter({
      name: 'streammesh_control_plane_bad_hop_requests_total',
      help: 'Hop request sets from nodes dropped as a whole, by reason (too_many, not_proxy, unknown_session, bad_address, duplicate_session).',
      labelNames: ['reason'],
      registers: [options.metrics],
    });
  }

  start(): void {
    this.#options.placements.on('change', this.#onInput);
    this.#options.store.on('change', this.#onInput);
    this.#tick = setInterval(
      () => this.reconcile(),
      this.#options.reconcileIntervalMs ?? DEFAULT_HOP_RECONCILE_INTERVAL_MS,
    );
    this.#tick.unref();
  }

  close(): void {
    this.#options.placements.off('change', this.#onInput);
    this.#options.store.off('change', this.#onInput);
    clearInterval(this.#tick);
  }

  /** The MEDIA_KEY resources `node` should hold: the hops it sends or receives. */
  resources(node: string): readonly PushedResource[] {
    const ids = this.#byNode.get(node);
    if (ids === undefined) return [];
    return [...ids].flatMap((id) => {
      const hop = this.#hops.get(id);
      return hop === undefined ? [] : [hop.resource];
    });
  }

  /** A node's whole set of requests (replacing its previous one), checked first. */
  requested(node: string, role: Role, message: HopRequests): void {
    if (role !== 'ROLE_PROXY') {
      this.#badRequests.inc({ reason: 'not_proxy' });
      return;
    }
    const checked = checkHopRequests(message.requests, this.#cameraSessions());
    if (typeof checked === 'string') {
      this.#badRequests.inc({ reason: checked });
      this.#options.log.warn({ node, reason: checked }, 'hop requests dropped');
      return;
    }
    this.#requests.set(node, checked);
    this.reconcile();
  }

  /** A node acknowledged an update: a rotation or a handover may move on. */
  acked(_node: string): void {
    this.reconcile();
  }

  /**
   * The hops a proxy's Hello says it holds (bodies checked). Taken during
   * the placement grace only, and only hops the node is an end of;
   * afterwards the planner's own hops stand and the node is sent them.
   */
  reported(node: string, bodies: readonly HopBody[]): void {
    if (!this.#options.placements.restoring) return;
    for (const body of bodies) {
      if (body.sender !== node && body.receiver !== node) continue;
      const hop = this.#hops.get(body.hopId);
      if (hop === undefined) {
        this.#add(body, this.#options.clock.now(), true);
        continue;
      }
      const merged = mergeBodies(hop.body, body);
      if (typeof merged === 'string') {
        this.#options.log.warn({ node, hop: body.hopId, reason: merged }, 'hop report ignored');
        continue;
      }
      this.#setBody(hop, merged);
      hop.pending = pendingOf(hop);
    }
    // After the Hello is answered: a 'change' now would compute the node's
    // delta before the push has taken the rest of its Hello (its placements).
    queueMicrotask(() => this.#emitIfChanged());
  }

  /**
   * A proxy said Hello, holding the hops `held` (ids). A hop it sends and
   * does not hold has a fresh sender (a restarted process, or one that lost
   * its state): its packet indices start at 0 again, so it must not get a
   * key that protected packets before (with GCM a repeated index under one
   * key gives the authentication key away). Such a hop moves to a new epoch
   * at once; the receiver gets the new key in the same push.
   */
  greeted(node: string, held: ReadonlySet<string>): void {
    if (this.#options.placements.restoring) {
      // The hops are not all known yet (the other ends' Hellos bring them
      // back): judged at the first pass after the grace.
      this.#greetedWhileRestoring.set(node, held);
      return;
    }
    this.#freshSenders(node, held);
    queueMicrotask(() => this.#emitIfChanged());
  }

  /** The hops `node` sends and did not hold at its Hello get a new key (see greeted()). */
  #freshSenders(node: string, held: ReadonlySet<string>): void {
    const now = this.#options.clock.now();
    for (const id of this.#byNode.get(node) ?? []) {
      const hop = this.#hops.get(id);
      if (hop === undefined || hop.body.sender !== node || held.has(id)) continue;
      this.#freshSenderKey(hop, now);
    }
  }

  /** One pass: wanted hops made or updated, the others removed or handed over, keys rotated. */
  reconcile(): void {
    if (this.#options.placements.restoring) return;
    for (const [node, held] of this.#greetedWhileRestoring) this.#freshSenders(node, held);
    this.#greetedWhileRestoring.clear();
    const now = this.#options.clock.now();
    this.#forgetLapsedRequests();
    const wanted = this.#wanted();
    for (const want of wanted.values()) this.#keep(want, now);
    for (const hop of this.#hops.values()) {
      if (hop.heldByBothAtMs === undefined && this.#heldByBoth(hop)) hop.heldByBothAtMs = now;
    }
    for (const [id, hop] of this.#hops) {
      if (wanted.has(id)) continue;
      if (this.#handingOver(hop, wanted, now)) {
        hop.retiring = true;
        continue;
      }
      this.#remove(hop);
    }
    const periodMs = this.#periodMs();
    for (const hop of this.#hops.values()) this.#rotate(hop, now, periodMs);
    this.#emitIfChanged();
  }

  view(): HopsView {
    return {
      restoring: this.#options.placements.restoring,
      rotationSec: this.#options.store.current.config.controlPlane.hopKeyRotationSec,
      hops: [...this.#hops.values()]
        .map((hop) => viewOf(hop))
        .sort((a, b) => (a.hopId < b.hopId ? -1 : a.hopId > b.hopId ? 1 : 0)),
    };
  }

  /** The hops of one session, as GET /hops shows them. */
  hopsOf(session: string): HopView[] {
    return this.view().hops.filter((hop) => hop.session === session);
  }

  /** The camera session keys of the config in force (kept per config version: every ACK asks). */
  #cameraSessions(): ReadonlySet<string> {
    const { version, config } = this.#options.store.current;
    if (this.#cameras?.version !== version) {
      const keys = sessionKeys(config).filter((key) => key.startsWith(CAMERA_KEY_PREFIX));
      this.#cameras = { version, keys: new Set(keys) };
    }
    return this.#cameras.keys;
  }

  #periodMs(): number {
    return this.#options.store.current.config.controlPlane.hopKeyRotationSec * 1000;
  }

  /** A node gone from the registry, or stale with its stream closed, asks for nothing. */
  #forgetLapsedRequests(): void {
    const { registry } = this.#options;
    for (const node of this.#requests.keys()) {
      const record = registry.get(node);
      if (record === undefined || (!record.streamOpen && registry.stateOf(record) === 'stale')) {
        this.#requests.delete(node);
      }
    }
  }

  #healthyProxy(id: string): NodeRecord | undefined {
    const record = this.#options.registry.get(id);
    if (record === undefined || record.role !== 'ROLE_PROXY') return undefined;
    return this.#options.registry.stateOf(record) === 'stale' ? undefined : record;
  }

  /** The hops the requests and placements call for now, by hop id. */
  #wanted(): Map<string, WantedHop> {
    const cameras = this.#cameraSessions();
    const wanted = new Map<string, WantedHop>();
    for (const [receiver, requests] of this.#requests) {
      for (const [session, receiverAddress] of requests) {
        if (!cameras.has(session)) continue;
        const owner = this.#options.placements.placementOf(session)?.node;
        if (owner === undefined || owner === receiver) continue;
        const sender = this.#healthyProxy(owner);
        const senderAddress = sender?.listenAddresses[HOP_LISTEN_ADDRESS];
        if (senderAddress === undefined || !isHopAddress(senderAddress)) continue;
        const senderIdentity = sender?.spiffeId ?? undefined;
        const receiverIdentity = this.#options.registry.get(receiver)?.spiffeId ?? undefined;
        if (
          this.#options.requireIdentity === true &&
          (senderIdentity === undefined || receiverIdentity === undefined)
        ) {
          continue;
        }
        const hopId = hopResourceName(session, owner, receiver);
        // A Hello could not name it back (checkRef): such a hop would keep its nodes out.
        if (hopId.length > MAX_RESOURCE_NAME_LENGTH) continue;
        wanted.set(hopId, {
          hopId,
          session,
          sender: owner,
          receiver,
          senderAddress,
          receiverAddress,
          ...(senderIdentity === undefined ? {} : { senderIdentity }),
          ...(receiverIdentity === undefined ? {} : { receiverIdentity }),
        });
      }
    }
    return wanted;
  }

  /** Makes a wanted hop, or brings an existing one's addresses up to date (same keys). */
  #keep(want: WantedHop, now: number): void {
    const hop = this.#hops.get(want.hopId);
    if (hop === undefined) {
      const epoch = (this.#retired.get(want.hopId) ?? 0) + 1;
      this.#retired.delete(want.hopId);
      const key = generateHopKey({
        hopId: want.hopId,
        epoch,
        notAfter: now + KEY_LIFETIME_PERIODS * this.#periodMs(),
      });
      this.#add({ ...want, keys: [key], sendEpoch: epoch }, now, false);
      this.#options.log.info(
        { hop: want.hopId, sender: want.sender, receiver: want.receiver },
        'hop added',
      );
      return;
    }
    hop.restored = false;
    hop.retiring = false;
    const { senderAddress, receiverAddress, senderIdentity, receiverIdentity } = want;
    const { body } = hop;
    if (
      body.senderAddress !== senderAddress ||
      body.receiverAddress !== receiverAddress ||
      body.senderIdentity !== senderIdentity ||
      body.receiverIdentity !== receiverIdentity
    ) {
      const {
        senderIdentity: _oldSender,
        receiverIdentity: _oldReceiver,
        ...withoutIdentities
      } = body;
      this.#setBody(hop, {
        ...withoutIdentities,
        senderAddress,
        receiverAddress,
        ...(senderIdentity === undefined ? {} : { senderIdentity }),
        ...(receiverIdentity === undefined ? {} : { receiverIdentity }),
      });
    }
  }

  /**
   * Whether a hop no longer wanted stays for a drain's handover: its
   * session moved off its healthy sender for `node_drained`, its receiver
   * still asks, and the new owner's hop is not yet held by both nodes for
   * handoverMs (or, when the receiver is the new owner, it has not held its
   * placement for handoverMs).
   */
  #handingOver(hop: Hop, wanted: ReadonlyMap<string, WantedHop>, now: number): boolean {
    const { session, sender, receiver } = hop.body;
    const placement = this.#options.placements.placementOf(session);
    if (placement === undefined || placement.reason !== 'node_drained') return false;
    if (placement.node === sender || this.#healthyProxy(sender) === undefined) return false;
    if (this.#requests.get(receiver)?.has(session) !== true) return false;
    if (placement.node === receiver) {
      if (hop.takenOverAtMs === undefined) {
        const held = this.#options.registry
          .get(receiver)
          ?.resources.heldVersion({ type: PLACEMENT, name: session });
        if (held !== placementResource(session, placement).version) return true;
        hop.takenOverAtMs = now;
      }
      return now < hop.takenOverAtMs + this.#handoverMs;
    }
    const successorId = hopResourceName(session, placement.node, receiver);
    if (!wanted.has(successorId)) return false;
    const heldAt = this.#hops.get(successorId)?.heldByBothAtMs;
    return heldAt === undefined || now < heldAt + this.#handoverMs;
  }

  #heldByBoth(hop: Hop): boolean {
    const ref = { type: MEDIA_KEY, name: hop.body.hopId };
    return [hop.body.sender, hop.body.receiver].every(
      (node) => this.#options.registry.get(node)?.resources.heldVersion(ref) != null,
    );
  }

  /**
   * Moves the sender to the pending epoch once the receiver holds it, and
   * adds the next epoch when the newest key is one period old.
   */
  #rotate(hop: Hop, now: number, periodMs: number): void {
    const { pending } = hop;
    if (pending !== undefined) {
      const held = this.#options.registry
        .get(hop.body.receiver)
        ?.resources.heldVersion({ type: MEDIA_KEY, name: hop.body.hopId });
      if (held == null || !pending.versions.has(held)) return;
      hop.pending = undefined;
      this.#setBody(hop, { ...hop.body, sendEpoch: pending.epoch });
      this.#options.log.debug(
        { hop: hop.body.hopId, epoch: pending.epoch },
        'hop sends with new key',
      );
    }
    const newest = hop.body.keys.at(-1);
    if (newest === undefined || newest.epoch >= maxHopEpoch) return;
    if (now < newest.notAfter - (KEY_LIFETIME_PERIODS - 1) * periodMs) return;
    const { hopId, sendEpoch } = hop.body;
    const next = generateHopKey({
      hopId,
      epoch: newest.epoch + 1,
      notAfter: now + KEY_LIFETIME_PERIODS * periodMs,
    });
    const keys = [...hop.body.keys.filter((key) => key.epoch >= sendEpoch - 1), next];
    hop.pending = { epoch: next.epoch, versions: new Set() };
    this.#setBody(hop, { ...hop.body, keys: keys.slice(-MAX_HOP_KEYS) });
    this.#options.log.debug({ hop: hopId, epoch: next.epoch }, 'hop key rotated');
  }

  /** A new epoch that the sender uses at once (a fresh sender: see greeted()). */
  #freshSenderKey(hop: Hop, now: number): void {
    const newest = hop.body.keys.at(-1);
    if (newest === undefined || newest.epoch >= maxHopEpoch) return;
    const { hopId } = hop.body;
    const next = generateHopKey({
      hopId,
      epoch: newest.epoch + 1,
      notAfter: now + KEY_LIFETIME_PERIODS * this.#periodMs(),
    });
    hop.pending = undefined;
    this.#setBody(hop, {
      ...hop.body,
      keys: [...hop.body.keys, next].slice(-MAX_HOP_KEYS),
      sendEpoch: next.epoch,
    });
    this.#options.log.info({ hop: hopId, epoch: next.epoch }, 'hop sender is new: new key');
  }

  #add(body: HopBody, now: number, restored: boolean): void {
    const hop: Hop = {
      body,
      resource: hopResource(body),
      sinceMs: now,
      restored,
      retiring: false,
      pending: undefined,
      heldByBothAtMs: undefined,
      takenOverAtMs: undefined,
    };
    hop.pending = pendingOf(hop);
    this.#hops.set(body.hopId, hop);
    for (const node of [body.sender, body.receiver]) {
      const ids = this.#byNode.get(node) ?? new Set<string>();
      ids.add(body.hopId);
      this.#byNode.set(node, ids);
    }
    this.#changed = true;
  }

  #setBody(hop: Hop, body: HopBody): void {
    const resource = hopResource(body);
    if (resource.version === hop.resource.version) return;
    hop.body = body;
    hop.resource = resource;
    if (hop.pending !== undefined && body.keys.some((key) => key.epoch === hop.pending?.epoch)) {
      hop.pending.versions.add(resource.version);
    }
    this.#changed = true;
  }

  #remove(hop: Hop): void {
    const { hopId, sender, receiver } = hop.body;
    this.#hops.delete(hopId);
    for (const node of [sender, receiver]) {
      const ids = this.#byNode.get(node);
      ids?.delete(hopId);
      if (ids?.size === 0) this.#byNode.delete(node);
    }
    this.#retired.delete(hopId);
    this.#retired.set(hopId, hop.body.keys.at(-1)?.epoch ?? 0);
    if (this.#retired.size > MAX_RETIRED) {
      const [oldest] = this.#retired.keys();
      if (oldest !== undefined) this.#retired.delete(oldest);
    }
    this.#changed = true;
    this.#options.log.info({ hop: hopId }, 'hop removed');
  }

  #emitIfChanged(): void {
    if (!this.#changed) return;
    this.#changed = false;
    this.emit('change');
  }
}

/** The epoch a hop holds beyond its sendEpoch (a rotation under way), with its version. */
function pendingOf(hop: Hop): Hop['pending'] {
  const newest = hop.body.keys.at(-1);
  if (newest === undefined || newest.epoch <= hop.body.sendEpoch) return undefined;
  return { epoch: newest.epoch, versions: new Set([hop.resource.version]) };
}

/**
 * Two ends' reports of one hop as one body: keys by epoch (both came from
 * one control plane, so an epoch names one key; a report that disagrees is
 * refused), the later sendEpoch (it moved only once the receiver held it),
 * at most MAX_HOP_KEYS keys, the oldest going first. Addresses stay as first
 * reported; the next pass sets them from the requests and the registry.
 */
export function mergeBodies(first: HopBody, second: HopBody): HopBody | string {
  if (first.session !== second.session) return 'the session differs';
  const keys = new Map<number, HopKey>(first.keys.map((key) => [key.epoch, key]));
  for (const key of second.keys) {
    const known = keys.get(key.epoch);
    if (known === undefined) keys.set(key.epoch, key);
    else if (known.key !== key.key || known.profile !== key.profile) {
      return `epoch ${key.epoch} differs between the two ends`;
    }
  }
  const sendEpoch = Math.max(first.sendEpoch, second.sendEpoch);
  const merged = [...keys.values()]
    .sort((a, b) => a.epoch - b.epoch)
    .filter((key) => key.epoch >= sendEpoch - 1)
    .slice(0, MAX_HOP_KEYS);
  if (!merged.some((key) => key.epoch === sendEpoch)) return 'no key for the send epoch';
  return { ...first, keys: merged, sendEpoch };
}

function viewOf(hop: Hop): HopView {
  const { body } = hop;
  return {
    hopId: body.hopId,
    session: body.session,
    sender: body.sender,
    receiver: body.receiver,
    senderAddress: body.senderAddress,
    receiverAddress: body.receiverAddress,
    keys: body.keys.map((key) => ({
      epoch: key.epoch,
      notAfter: new Date(key.notAfter).toISOString(),
    })),
    sendEpoch: body.sendEpoch,
    since: new Date(hop.sinceMs).toISOString(),
    state: hop.retiring ? 'retiring' : hop.restored ? 'restored' : 'active',
  };
}
