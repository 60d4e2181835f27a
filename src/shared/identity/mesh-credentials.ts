/**
 * The node's workload certificate as a mesh TLS end uses it: the TLS
 * contexts its listeners present and its clients dial with, and the trust
 * domain a peer's SPIFFE ID must belong to. Shared by the L7 proxy's mesh
 * listeners and clusters and the signaling nodes' cascade link.
 *
 * Whoever holds the node's WorkloadIdentitySource feeds it: the L7 proxy
 * runs on a thread of its own, so its main thread sends each set of
 * certificates (the first, and every renewal) as plain data; the cascade
 * link subscribes to the source itself. update() puts a set here.
 * A renewal never touches a connection already open (TLS reads certificates
 * at the handshake only): listeners swap their context for the next
 * handshake (onChange) and clusters take the current one for every new
 * connection. A context is built once per set, not per connection.
 *
 * Each set carries the mesh's revoked serials (pushed with the trust
 * bundle, which sends a new set): listeners refuse a client presenting one,
 * clusters an endpoint presenting one, from the next handshake on.
 */
import { createSecureContext, type SecureContext } from 'node:tls';
import { revokedSerialSet, type RevokedSerials } from './revoked-serials.js';
import { parseSpiffeId } from './spiffe-id.js';
import type { WorkloadCertificates } from './workload-certificates.js';

/** What a mesh TLS end needs from one set of certificates. */
export interface MeshTlsMaterial {
  readonly spiffeId: string;
  readonly trustDomain: string;
  /** Certificates revoked before their expiry: a peer presenting one is refused. */
  readonly revoked: RevokedSerials;
  /** Key, leaf + chain, and the trust bundle as CA: for a server and for a client alike. */
  readonly context: SecureContext;
  /** The same as options, for node:tls servers' setSecureContext(). */
  readonly options: {
    readonly key: string;
    readonly cert: string;
    readonly ca: string;
  };
}

export class MeshCredentials {
  #material: MeshTlsMaterial | undefined;
  readonly #listeners = new Set<(material: MeshTlsMaterial) => void>();

  /** undefined until the node has a certificate (or when mTLS is off). */
  get current(): MeshTlsMaterial | undefined {
    return this.#material;
  }

  /** Puts a new set in force for every handshake from now on; throws (changing nothing) on bad PEM. */
  update(certificates: WorkloadCertificates): void {
    const options = {
      key: certificates.privateKeyPem,
      cert: joinPem(certificates.certificatePem, certificates.chainPem),
      ca: certificates.trustBundlePem,
    };
    const material: MeshTlsMaterial = {
      spiffeId: certificates.spiffeId,
      trustDomain: parseSpiffeId(certificates.spiffeId).trustDomain,
      revoked: revocationListOf(certificates),
      context: createSecureContext({ ...options, minVersion: 'TLSv1.3' }),
      options,
    };
    this.#material = material;
    for (const listener of this.#listeners) listener(material);
  }

  /** Calls `listener` with every later set; returns the function that stops it. */
  onChange(listener: (material: MeshTlsMaterial) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** The leaf then the certificates above it, as one PEM (what node:tls presents). */
function joinPem(leaf: string, chain: string): string {
  const trimmed = chain.trim();
  return trimmed === '' ? leaf : `${leaf.trimEnd()}\n${trimmed}\n`;
}

/**
 * The revocation list the certificates `current()` returns carry, made once
 * per set (a renewal or a pushed bundle brings a new one), for checks that
 * run per request (edge tokens).
 */
export function revocationsOf(
  current: () => WorkloadCertificates | undefined,
): () => RevokedSerials | undefined {
  let held: WorkloadCertificates | undefined;
  let list: RevokedSerials | undefined;
  return () => {
    const certificates = current();
    if (certificates !== held) {
      held = certificates;
      list = certificates === undefined ? undefined : revocationListOf(certificates);
    }
    return list;
  };
}

/** The revocation list a set of certificates carries (none until one is pushed). */
function revocationListOf(certificates: WorkloadCertificates): RevokedSerials {
  return revokedSerialSet(certificates.revokedSerials ?? [], certificates.revokedIdentities ?? []);
}
