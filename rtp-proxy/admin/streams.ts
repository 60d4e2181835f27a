import type { AdminServer } from '../../src/shared/admin/index.js';
import type { RouteKeySource, RouteSnapshotSource } from '../media/workers/index.js';
import type { RtspService } from '../media/rtsp/index.js';
import { addKeyRoutes } from './keys.js';

/**
 * `GET /streams`: every route, its latched sender, destinations, drop
 * counters and per-stream quality (asked of the media workers that carry
 * them at each request, so it is as fresh as on one thread); and the RTSP
 * proxy's paths (camera state, outages, per-track quality) and sessions
 * (viewers and publishers); and `GET /keys` (keys.ts), kept apart from
 * /streams so that statistics can be shared without sharing secrets.
 */
export function addStreamRoutes(
  admin: AdminServer,
  relay: RouteSnapshotSource & RouteKeySource,
  rtsp: RtspService,
): void {
  admin.route('GET', '/streams', async () => {
    // A worker restarting or too busy to answer: its routes are missing, and the answer says so.
    const report = relay.snapshotReport
      ? await relay.snapshotReport()
      : { routes: await relay.snapshot(), missingWorkers: [] };
    return {
      status: 200,
      body: {
        routes: report.routes,
        ...(report.missingWorkers.length === 0 ? {} : { missingWorkers: report.missingWorkers }),
        rtsp: rtsp.snapshot(),
      },
    };
  });
  addKeyRoutes(admin, relay);
}
