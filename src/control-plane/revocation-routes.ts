/**
 * Revocation on the control plane's admin (controlPlane.mtls only):
 *
 * - `POST /certificates/<serial>/revoke` (admin token): the certificate
 *   with that serial (hex, with or without colons, as `openssl x509
 *   -serial` or GET /ca prints it) is refused from now on by every mTLS
 *   port of the mesh: the control plane's gRPC port (register, resource
 *   stream, renewal; a stream open under it is ended), its mutual-TLS admin
 *   listener, and every node's L7 mesh listeners and mesh clusters once they
 *   hold the pushed bundle. 200 with the entry; `known` says whether this
 *   control plane issued it (if not, the entry lasts the longest leaf
 *   lifetime). 400 for what is not a serial, 507 when the list is full,
 *   409 on the kubernetes registry, where the list would be one replica's
 *   only (ca/revocations.ts): the answer says what to do instead.
 * - `GET /certificates/revoked`: the list (serial, owner, expiry), no key.
 *
 * Revoking a certificate the control plane issued also revokes every
 * certificate of the same SPIFFE ID (and node id) issued before it: the
 * renewals a stolen key may have made. A node is cut off, and comes back
 * only with a certificate issued later (a new bootstrap); an operator, with
 * a new operator certificate (give each operator a name of their own,
 * `streammesh cert operator --name`, or one revocation cuts off all who
 * share it). Revocation is permanent until what it covers has expired:
 * there is no un-revoke.
 */
import type { AdminServer } from '../shared/admin/index.js';
import { normalizeSerial } from '../shared/identity/index.js';
import type { Revocations, RevokedEntry } from './ca/index.js';

/** An entry as the admin shows it. */
export interface RevokedView {
  readonly serial: string;
  readonly spiffeId: string | null;
  readonly revokedAt: string;
  /** Its certificate's expiry. */
  readonly until: string;
  /**
   * For a certificate this control plane issued: every certificate of that
   * SPIFFE ID (and node id) issued before `issuedBefore` is revoked with it.
   */
  readonly revokesIdentity: {
    readonly spiffeId: string;
    readonly nodeId: string | null;
    readonly issuedBefore: string;
  } | null;
}

/**
 * `ownSerial`: the control plane's own gRPC certificate's serial, which is
 * not revoked here (nodes would lose the control plane until it renewed; a
 * control plane whose key leaked needs a CA rotation, POST /ca/rotate).
 */
export function addRevocationRoutes(
  admin: AdminServer,
  revocations: Revocations,
  ownSerial: () => string | undefined,
): void {
  admin.segmentRoute(
    'POST',
    '/certificates/',
    '/revoke',
    (_request, serial) => {
      const own = ownSerial();
      if (own !== undefined && normalizeSerial(serial) === normalizeSerial(own)) {
        return {
          status: 409,
          body: {
            error:
              "that is the control plane's own certificate: to replace it, rotate the CA (POST /ca/rotate)",
          },
        };
      }
      const result = revocations.revoke(serial);
      if (!result.ok) {
        if (result.reason === 'not_shared') {
          return { status: 409, body: { error: `cannot revoke here: ${result.detail}` } };
        }
        return result.reason === 'list_full'
          ? {
              status: 507,
              body: {
                error: 'the revocation list is full; entries leave it as their certificates expire',
              },
            }
          : {
              status: 400,
              body: {
                error: 'not a serial number: hex digits (up to 20 bytes), with or without colons',
              },
            };
      }
      return { status: 200, body: { ...viewOf(result.entry), known: result.known } };
    },
    { access: 'token' },
  );
  admin.route('GET', '/certificates/revoked', () => ({
    status: 200,
    body: { revoked: revocations.entries().map(viewOf) },
  }));
}

function viewOf(entry: RevokedEntry): RevokedView {
  return {
    serial: entry.serial,
    spiffeId: entry.spiffeId,
    revokedAt: new Date(entry.revokedAtMs).toISOString(),
    until: new Date(entry.notAfterMs).toISOString(),
    revokesIdentity:
      entry.identityUntilMs === null || entry.spiffeId === null
        ? null
        : {
            spiffeId: entry.spiffeId,
            nodeId: entry.nodeId,
            issuedBefore: new Date(entry.revokedAtMs).toISOString(),
          },
  };
}
