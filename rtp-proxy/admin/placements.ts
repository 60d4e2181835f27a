/**
 * GET /placements on the proxy's admin: which node carries each media
 * session, as the control plane last pushed it, and whether it is this
 * proxy. Read-only (placements come only from the control plane); kept
 * while the control plane is away.
 */
import type { AdminServer } from '../../src/shared/admin/index.js';
import type { Placements } from '../../src/node-agent/index.js';

export function addPlacementRoutes(admin: AdminServer, nodeId: string, placements: Placements) {
  admin.route('GET', '/placements', () => ({
    status: 200,
    body: { node: nodeId, placements: placements.list() },
  }));
}
