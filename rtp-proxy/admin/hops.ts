/**
 * GET /hops on the proxy's admin: the camera hops this proxy sends and
 * receives (MEDIA_KEY resources as pushed, never their keys) and how each
 * is doing (packets, loss, jitter, RTT, key epochs, drops by reason).
 * Read-only: hops come only from the control plane.
 */
import type { AdminServer } from '../../src/shared/admin/index.js';
import type { Hops } from '../../src/node-agent/index.js';
import type { CameraMesh } from '../media/mesh/index.js';

export function addHopRoutes(admin: AdminServer, hops: Hops, mesh: CameraMesh): void {
  admin.route('GET', '/hops', () => ({
    status: 200,
    body: { held: hops.list(), ...mesh.snapshot() },
  }));
}
