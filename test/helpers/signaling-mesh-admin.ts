/**
 * What a test of rooms across signaling nodes waits for at the control
 * plane's admin before it acts: a node's door, move or cascade chooses only
 * among what the control plane pushed to it and it acked (its directory of
 * SIGNALING_NODE entries, a room's PLACEMENT), so acting earlier tests a
 * race, not the feature. Also the rooms' homes (GET /placements), and a room
 * homed where a test needs it: placement hashes the name, so a test joins a
 * few candidate names and keeps one.
 *
 * Works against startSignalingMesh's control plane and against `up`'s (pass
 * the admin token's header).
 */
import assert from 'node:assert/strict';
import { okData, type SignalingClient } from './signaling-client.js';
import { waitFor } from './process.js';

/** One resource the control plane pushed to a node, as GET /nodes lists it. */
export interface HeldResource {
  readonly type: string;
  readonly name: string;
  /** The version the node acked; null while it has not. */
  readonly acked: string | null;
}

export interface AdminOptions {
  /** Sent with each GET (e.g. bearer(token) for `up`'s control plane). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

async function adminGet<T>(url: string, options: AdminOptions): Promise<T> {
  const response = await fetch(url, {
    headers: { ...options.headers },
    signal: AbortSignal.timeout(5_000),
  });
  return (await response.json()) as T;
}

/**
 * Waits until each of `nodeIds` has acked resources for which `held` is
 * true (it is given only the acked ones); `what` names them in the failure.
 */
export async function waitUntilNodesHold(
  adminUrl: string,
  nodeIds: readonly string[],
  what: string,
  held: (acked: readonly HeldResource[]) => boolean,
  options: AdminOptions = {},
): Promise<void> {
  await waitFor(
    async () => {
      const { nodes } = await adminGet<{
        nodes: { id: string; resources: HeldResource[] }[];
      }>(`${adminUrl}/nodes`, options);
      const all = nodeIds.every((id) => {
        const found = nodes.find((node) => node.id === id);
        return found !== undefined && held(found.resources.filter((r) => r.acked !== null));
      });
      return all ? true : undefined;
    },
    options.timeoutMs ?? 10_000,
    () => `${nodeIds.join(', ')} to hold ${what}`,
  );
}

/** Waits until every node's directory names all of them: doors and moves choose among these. */
export async function waitForFullDirectory(
  adminUrl: string,
  nodeIds: readonly string[],
  options: AdminOptions = {},
): Promise<void> {
  await waitUntilNodesHold(
    adminUrl,
    nodeIds,
    `the ${nodeIds.length} SIGNALING_NODE entries`,
    (acked) => acked.filter((r) => r.type === 'SIGNALING_NODE').length === nodeIds.length,
    options,
  );
}

/** Waits until each of `nodeIds` holds `room`'s placement: its door knows the room's home. */
export async function waitForRoomPlacement(
  adminUrl: string,
  nodeIds: readonly string[],
  room: string,
  options: AdminOptions = {},
): Promise<void> {
  await waitUntilNodesHold(
    adminUrl,
    nodeIds,
    `room/${room}`,
    (acked) => acked.some((r) => r.type === 'PLACEMENT' && r.name === `room/${room}`),
    options,
  );
}

/** The home of each room the control plane placed, by room name. */
export async function roomHomes(
  adminUrl: string,
  options: AdminOptions = {},
): Promise<Map<string, string>> {
  const { rooms } = await adminGet<{ rooms: { placements: { key: string; node: string }[] } }>(
    `${adminUrl}/placements`,
    options,
  );
  return new Map(
    rooms.placements
      .filter((p) => p.key.startsWith('room/'))
      .map((p) => [p.key.slice('room/'.length), p.node]),
  );
}

export interface RoomHomedOnOptions extends AdminOptions {
  readonly adminUrl: string;
  /** The node the room must be homed on. */
  readonly home: string;
  /** Room names to try; one must hash to `home`. */
  readonly candidates: readonly string[];
  /** Who joins each candidate. */
  readonly peer: string;
  /** Opens a client at the node the candidates are joined through (the test closes it at the end). */
  readonly open: () => Promise<SignalingClient>;
}

/**
 * Joins `peer` to every candidate room, waits until all are placed, and
 * keeps the first homed on `home`: its room and joined client. The other
 * clients are closed (their rooms empty again).
 */
export async function joinRoomHomedOn(
  options: RoomHomedOnOptions,
): Promise<{ readonly room: string; readonly client: SignalingClient }> {
  const joined = await Promise.all(
    options.candidates.map(async (room) => {
      const client = await options.open();
      okData(await client.request('join', { room, peer: options.peer }));
      return { room, client };
    }),
  );
  const placed = await waitFor(
    async () => {
      const known = await roomHomes(options.adminUrl, options);
      return options.candidates.every((room) => known.has(room)) ? known : undefined;
    },
    options.timeoutMs ?? 10_000,
    () => 'every candidate room placed',
  );
  const kept = joined.find((entry) => placed.get(entry.room) === options.home);
  assert.ok(
    kept !== undefined,
    `a candidate homed on ${options.home}: ${JSON.stringify([...placed])}`,
  );
  for (const entry of joined) if (entry !== kept) await entry.client.close();
  return kept;
}
