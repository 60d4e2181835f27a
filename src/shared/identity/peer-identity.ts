/**
 * A TLS peer's mesh identity, read from the certificate node:tls verified:
 * its one SPIFFE ID (the URI SAN) and, for nodes, its node id (the subject
 * CN the mesh CA writes). Shared by every mutual-TLS listener and client of
 * the mesh (the control plane's gRPC channel, proxy-to-proxy HTTP), so that
 * they agree on what a peer is called.
 *
 * A certificate with no URI SAN, more than one, or one that is not a mesh
 * SPIFFE ID of the expected trust domain names no identity: SPIFFE's
 * X509-SVID allows exactly one URI SAN, and a second one would let a policy
 * match a name the CA never meant.
 */
import type { PeerCertificate } from 'node:tls';
import { checkServerIdentity } from 'node:tls';
import { parseSpiffeId, SpiffeIdError, type SpiffeIdParts } from './spiffe-id.js';

export interface PeerIdentity extends SpiffeIdParts {
  readonly spiffeId: string;
  /** The subject CN: the node id of a node's certificate; undefined for other workloads. */
  readonly nodeId: string | undefined;
}

/**
 * The SPIFFE ID a certificate names, or undefined when it names none (or
 * one of another trust domain). Only for a certificate node:tls verified
 * against the mesh's trust bundle: the names of an unverified one mean nothing.
 */
export function peerIdentity(
  certificate: Pick<PeerCertificate, 'subjectaltname' | 'subject'> | undefined,
  trustDomain: string,
): PeerIdentity | undefined {
  const names = certificate?.subjectaltname;
  if (typeof names !== 'string' || names === '') return undefined;
  const uris = names
    .split(', ')
    .filter((name) => name.startsWith('URI:'))
    .map((name) => name.slice('URI:'.length));
  if (uris.length !== 1) return undefined;
  const [uri] = uris;
  if (uri === undefined) return undefined;
  let parts: SpiffeIdParts;
  try {
    parts = parseSpiffeId(uri);
  } catch (error) {
    if (error instanceof SpiffeIdError) return undefined;
    throw error;
  }
  if (parts.trustDomain !== trustDomain) return undefined;
  const cn = certificate?.subject.CN;
  // node:tls gives a repeated attribute as an array: not a node id.
  const nodeId = typeof cn === 'string' ? cn : undefined;
  return { ...parts, spiffeId: uri, nodeId };
}

/**
 * For a TLS client's `checkServerIdentity`: the server's certificate must
 * name one of `accepted` as its SPIFFE ID (mesh certificates carry no DNS
 * name, so the usual host name check cannot apply). Returns an Error to
 * refuse the connection, as node:tls expects.
 */
export function spiffeServerIdentityCheck(
  trustDomain: string,
  accepted: (identity: PeerIdentity) => boolean,
): (host: string, certificate: PeerCertificate) => Error | undefined {
  return (host, certificate) => {
    const identity = peerIdentity(certificate, trustDomain);
    if (identity === undefined) {
      // Not a mesh certificate: the ordinary host name check decides (and refuses).
      return (
        checkServerIdentity(host, certificate) ??
        new Error('no mesh SPIFFE ID in the server certificate')
      );
    }
    if (!accepted(identity)) {
      return new Error(`server identity ${identity.spiffeId} is not the one expected`);
    }
    return undefined;
  };
}
