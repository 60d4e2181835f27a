import type { AdminServer } from '../../src/shared/admin/index.js';
import type { RouteTable } from '../relay/route-table.js';

/**
 * `GET /streams`: every route, its latched sender, destinations, drop
 * counters and per-stream quality. `GET /keys`: the SRTP keys of every leg
 * (generated ones included), kept apart from /streams so that statistics can
 * be shared without sharing secrets.
 */
export function addStreamRoutes(admin: AdminServer, table: RouteTable): void {
  admin.route('GET', '/streams', () => ({ status: 200, body: { routes: table.snapshot() } }));
  admin.route('GET', '/keys', () => ({ status: 200, body: { keys: table.keys() } }));
}
