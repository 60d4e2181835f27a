/**
 * The control plane's own admin routes: read and write the config, list
 * nodes, placements and camera hops, and one camera stream's path hop by
 * hop (GET /streams/<path>/hops); SFU rooms across signaling nodes: GET
 * /placements also shows rooms' homes (`rooms`), GET /rooms each room's
 * home and member nodes, GET /rooms/<room>/hops one room's path hop by
 * hop (room-hops.ts), GET /pipes the cascade pipes.
 * A write (`PUT /config`, YAML or JSON body) needs the admin token (checked
 * before the body is read), is validated like a file — pre-scanned for size
 * and nesting, then parsed on a worker thread under a deadline, so no body
 * holds the event loop or ends the process — and, if good, is pushed to
 * every connected node at once. `POST /nodes/<id>/drain` (drain-routes.ts)
 * drains a node, with the token too.
 *
 * Hop keys never leave the process but to the hop's two nodes: GET /hops
 * shows their epochs and expiry only. GET /streams/<path>/hops serves any
 * path (names may hold "/"); one the config does not have answers 404.
 * Pipe keys likewise: GET /pipes and GET /rooms say whether an end is
 * keyed, never the key.
 */
import type { AdminServer } from '../shared/admin/index.js';
import { parseConfigTextIsolated, redactSecrets } from '../config/index.js';
import { ConfigError } from '../shared/errors.js';
import type { ConfigStore } from './config-push/index.js';
import { addDrainRoutes } from './drain-routes.js';
import { streamHopsView, type HopPlanner } from './hops/index.js';
import { CAMERA_KEY_PREFIX, sessionKeys, type PlacementService } from './placement/index.js';
import type { Registry } from './registry/index.js';
import { roomHopsView, roomsView, type RoomsParts } from './rooms/index.js';

export interface ControlPlaneParts {
  readonly store: ConfigStore;
  readonly registry: Registry;
  readonly placements: PlacementService;
  readonly hops: HopPlanner;
  readonly rooms: RoomsParts;
}

export function addControlPlaneRoutes(admin: AdminServer, parts: ControlPlaneParts): void {
  const { store, registry, placements, hops, rooms } = parts;
  // The config holds secrets (SRTP keys, RTSP passwords and tokens, camera
  // credentials): shown redacted, in full only with ?reveal=true and the token.
  admin.route('GET', '/config', (request) => {
    const reveal = request.url.searchParams.get('reveal') === 'true';
    if (reveal && !request.authorized()) {
      return { status: 401, body: { error: 'GET /config?reveal=true needs the admin token' } };
    }
    const { config } = store.current;
    return {
      status: 200,
      body: {
        version: store.current.version,
        origin: store.current.origin,
        updatedAt: store.current.updatedAt,
        lastReloadError: store.lastReloadError ?? null,
        config: reveal ? config : redactSecrets(config),
      },
    };
  });

  admin.route(
    'PUT',
    '/config',
    async (request) => {
      let config;
      try {
        config = await parseConfigTextIsolated(await request.body(), 'PUT /config');
      } catch (error) {
        if (error instanceof ConfigError) {
          return { status: 400, body: { error: error.message, issues: error.issues } };
        }
        throw error;
      }
      let changed;
      try {
        changed = store.set(config, 'admin API');
      } catch (error) {
        // A layer (custom resources, EndpointSlices) does not fit the new base.
        if (error instanceof ConfigError) {
          return { status: 409, body: { error: error.message, issues: error.issues } };
        }
        throw error;
      }
      return { status: 200, body: { version: store.current.version, changed } };
    },
    { access: 'token' },
  );

  admin.route('GET', '/nodes', () => ({ status: 200, body: { nodes: registry.list() } }));
  addDrainRoutes(admin, registry);
  admin.route('GET', '/stats', () => ({ status: 200, body: { nodes: registry.stats() } }));
  // Which proxy carries which session, sorted by key, and each proxy's keys
  // against its bound; `rooms`: the same for SFU rooms over signaling nodes.
  admin.route('GET', '/placements', () => ({
    status: 200,
    body: { ...placements.view(), rooms: rooms.placement.view() },
  }));
  // Every SFU room: its home, member nodes (peers, producers) and pipes.
  admin.route('GET', '/rooms', () => ({ status: 200, body: roomsView(rooms) }));
  // One room's path hop by hop: publishers, pipes between its nodes (loss,
  // jitter, RTT from the nodes' stats reports), viewers. 404 for a room no
  // node reports and no pipe or home names.
  admin.segmentRoute('GET', '/rooms/', '/hops', (_request, room) => {
    const shares = rooms.membership.rooms().get(room) ?? [];
    const pipes = rooms.pipes.pipesOf(room);
    const home = rooms.placement.homeOf(room)?.node ?? null;
    if (shares.length === 0 && pipes.length === 0 && home === null) {
      return { status: 404, body: { error: `no node reports room ${room}` } };
    }
    return {
      status: 200,
      body: roomHopsView({ room, home, shares, pipes, reports: registry.stats() }),
    };
  });
  // Every cascade pipe: its room, two ends, addresses and whether keyed, never a key.
  admin.route('GET', '/pipes', () => ({ status: 200, body: rooms.pipes.view() }));
  // Every hop: its two ends and addresses, key epochs and expiry, never a key.
  admin.route('GET', '/hops', () => ({ status: 200, body: hops.view() }));

  admin.segmentRoute(
    'GET',
    '/streams/',
    '/hops',
    (_request, path) => {
      const session = `${CAMERA_KEY_PREFIX}${path}`;
      if (!sessionKeys(store.current.config).includes(session)) {
        return { status: 404, body: { error: `no camera path ${path} in the config` } };
      }
      return {
        status: 200,
        body: streamHopsView({
          path,
          session,
          owner: placements.placementOf(session)?.node ?? null,
          hops: hops.hopsOf(session),
          reports: registry.stats(),
        }),
      };
    },
    { slashes: true },
  );
}
