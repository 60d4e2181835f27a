/**
 * Who is at the other end of a cascade link, and whether it may be there.
 *
 * A peer is a signaling node the control plane told this node about
 * (SIGNALING_NODE: node id, SPIFFE ID, link address). With workload
 * identities (controlPlane.mtls on, the only way to run across hosts) both
 * ends prove it by certificate: the client's verified certificate must name
 * a node id (CN) that is such an entry and the SPIFFE ID that entry holds,
 * and the server's the same for the node the client meant to reach. So a
 * proxy, a workload of another trust domain, a revoked node, or a node
 * claiming another's id is refused, and counted by why.
 *
 * Without workload identities (controlPlane.mtls off: tests and a single
 * trusted host only) nothing can be proven: the dialer names itself in a
 * request header and is accepted only from the host its entry's link
 * address names. That stops a mistake, not an attacker.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { parseHostPort } from '../../src/shared/address.js';
import {
  isRevokedCertificate,
  peerIdentity,
  spiffeServerIdentityCheck,
  type MeshTlsMaterial,
} from '../../src/shared/identity/index.js';
import type { LinkRefusal } from './link-metrics.js';

/** What this node knows of another signaling node (its SIGNALING_NODE body). */
export interface LinkPeerEntry {
  /** host:port of its cascade link listener. */
  readonly link: string;
  /** Its SPIFFE ID; null without mTLS. */
  readonly identity: string | null;
}

export type LinkPeerLookup = (node: string) => LinkPeerEntry | undefined;

/** The header a plaintext dialer names itself in. */
export const LINK_NODE_HEADER = 'x-streammesh-node';

export type PeerVerdict =
  | { readonly ok: true; readonly node: string }
  | { readonly ok: false; readonly reason: LinkRefusal };

const refuse = (reason: LinkRefusal): PeerVerdict => ({ ok: false, reason });

/** The node a TLS client is, from the certificate node:tls verified (or why it is refused). */
export function checkClientCertificate(
  socket: TLSSocket,
  material: MeshTlsMaterial,
  ownNode: string,
  lookup: LinkPeerLookup,
): PeerVerdict {
  const certificate = socket.getPeerCertificate();
  if (!socket.authorized) {
    if (Object.keys(certificate).length === 0) return refuse('tls_no_client_certificate');
    const code = String(socket.authorizationError);
    return refuse(
      code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID'
        ? 'tls_client_certificate_expired'
        : 'tls_client_certificate_untrusted',
    );
  }
  if (isRevokedCertificate(certificate, material.revoked)) {
    return refuse('tls_client_certificate_revoked');
  }
  const identity = peerIdentity(certificate, material.trustDomain);
  if (identity === undefined) return refuse('tls_no_mesh_identity');
  return checkClaim(identity.nodeId, identity.spiffeId, ownNode, lookup);
}

/** The node a plaintext dialer names, accepted from its entry's host only. */
export function checkPlaintextClient(
  request: IncomingMessage,
  ownNode: string,
  lookup: LinkPeerLookup,
): PeerVerdict {
  const claimed = request.headers[LINK_NODE_HEADER];
  const node = typeof claimed === 'string' && claimed !== '' ? claimed : undefined;
  const verdict = checkClaim(node, null, ownNode, lookup);
  if (!verdict.ok) return verdict;
  const entry = lookup(verdict.node);
  const address = entry === undefined ? undefined : parseHostPort(entry.link);
  const source = unmapped(request.socket.remoteAddress ?? '');
  if (address === undefined || typeof address === 'string' || address.host !== source) {
    return refuse('source_mismatch');
  }
  return verdict;
}

function checkClaim(
  node: string | undefined,
  spiffeId: string | null,
  ownNode: string,
  lookup: LinkPeerLookup,
): PeerVerdict {
  if (node === undefined) return refuse('no_node_id');
  if (node === ownNode) return refuse('self');
  const entry = lookup(node);
  if (entry === undefined) return refuse('unknown_node');
  if (entry.identity !== spiffeId) return refuse('identity_mismatch');
  return { ok: true, node };
}

/**
 * For the dialer's checkServerIdentity: the server must be `node` under
 * the SPIFFE ID its entry holds, with a certificate not revoked.
 */
export function linkServerIdentityCheck(
  material: MeshTlsMaterial,
  node: string,
  identity: string,
): ReturnType<typeof spiffeServerIdentityCheck> {
  const check = spiffeServerIdentityCheck(
    material.trustDomain,
    (peer) => peer.nodeId === node && peer.spiffeId === identity,
  );
  return (host, certificate) => {
    if (isRevokedCertificate(certificate, material.revoked)) {
      return new Error('the server certificate is revoked');
    }
    return check(host, certificate);
  };
}

/** An IPv4 address as a dual-stack socket reports it (::ffff:127.0.0.11), plain. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
}
