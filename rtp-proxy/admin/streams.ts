import type { AdminServer } from '../../src/shared/admin/index.js';
import type { MediaRouteTable } from '../media/relay/index.js';
import type { RtspService } from '../media/rtsp/index.js';
import { addKeyRoutes } from './keys.js';

/**
 * `GET /streams`: every route, its latched sender, destinations, drop
 * counters and per-stream quality; and the RTSP proxy's paths (camera state,
 * outages, per-track quality) and sessions (viewers and publishers); and
 * `GET /keys` (keys.ts), kept apart from /streams so that statistics can be
 * shared without sharing secrets.
 */
export function addStreamRoutes(
  admin: AdminServer,
  table: MediaRouteTable,
  rtsp: RtspService,
): void {
  admin.route('GET', '/streams', () => ({
    status: 200,
    body: { routes: table.snapshot(), rtsp: rtsp.snapshot() },
  }));
  addKeyRoutes(admin, table);
}
