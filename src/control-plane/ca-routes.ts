/**
 * The mesh CA on the control plane's admin (controlPlane.mtls only):
 *
 * - `GET /ca`: the roots trusted (fingerprint, validity, which one issues),
 *   the root of the control plane's own certificate, and per node whether
 *   it ACKed the bundle in force and which root its last certificate came
 *   from. No key, ever.
 * - `POST /ca/rotate` (admin token): a new issuing root, the bundle pushed
 *   to every node; 202 with the view (the control plane's certificate moves
 *   to the new root once every connected node ACKed). 409 while a rotation
 *   is being made, or for an operator's root (replace its files instead).
 * - `POST /ca/retire` (admin token): 409 with the nodes that still need an
 *   old root; else the bundle is cut to the issuer and pushed, 200.
 *
 * A rotation drill: rotate, wait until GET /ca says everyNodeOnIssuer
 * (nodes renew at half-life), retire.
 */
import type { AdminServer } from '../shared/admin/index.js';
import { CaError } from './ca/index.js';
import type { CaRotation } from './ca-rotation.js';

export function addCaRoutes(admin: AdminServer, rotation: CaRotation): void {
  admin.route('GET', '/ca', () => ({ status: 200, body: rotation.view() }));

  admin.route(
    'POST',
    '/ca/rotate',
    async () => {
      try {
        if (!(await rotation.rotate())) {
          return { status: 409, body: { error: 'a rotation is being made; try again' } };
        }
      } catch (error) {
        if (error instanceof CaError && error.code === 'ERR_CA_STATE') {
          return { status: 409, body: { error: error.message } };
        }
        throw error;
      }
      return { status: 202, body: rotation.view() };
    },
    { access: 'token' },
  );

  admin.route(
    'POST',
    '/ca/retire',
    () => {
      let result;
      try {
        result = rotation.retire();
      } catch (error) {
        if (error instanceof CaError && error.code === 'ERR_CA_STATE') {
          return { status: 409, body: { error: error.message } };
        }
        throw error;
      }
      if ('blockers' in result) {
        return {
          status: 409,
          body: {
            error: 'nodes still hold certificates of a root being retired; retry once they renewed',
            nodes: result.blockers,
          },
        };
      }
      return { status: 200, body: { retired: result.retired, ...rotation.view() } };
    },
    { access: 'token' },
  );
}
