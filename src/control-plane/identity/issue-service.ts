/**
 * MeshIdentity.IssueCertificate (mesh.proto): a workload's CSR in, a leaf of
 * the mesh CA out, naming the SPIFFE ID the CSR asks for and, for a node,
 * its node id as the subject CN.
 *
 * Who may ask for what:
 * - a first certificate needs a token, checked by the authenticator
 *   (token-authenticators.ts): the bootstrap token (embedded mode), which
 *   may name any SPIFFE ID of the trust domain, or on Kubernetes a
 *   ServiceAccount token (TokenReview), which may name only its
 *   ServiceAccount's ID and, bound to a pod, only that pod as node id.
 *   Never the control plane's own ID nor another reserved one (whoever held
 *   that could pose as the control plane to every node);
 * - a renewal carries no token and needs the caller's current certificate,
 *   verified by the TLS handshake (mutual TLS); it may only ask for the same
 *   SPIFFE ID and node id that certificate names.
 *
 * Refusals: UNAUTHENTICATED (no token, a wrong one, a renewal without a
 * certificate), PERMISSION_DENIED (another identity than the token's or the
 * certificate's, another trust domain, the control plane's ID),
 * INVALID_ARGUMENT (a CSR too large, unreadable, not self-signed, without
 * exactly one SPIFFE ID; a node id that is not a DNS label), UNAVAILABLE
 * (the token could not be checked now: the API server did not answer).
 * Each is counted by reason. Neither a token nor a key is ever logged or
 * put in an error.
 *
 * Each certificate issued is remembered per node id (or SPIFFE ID for a
 * workload without one), with the root that signed it and its notAfter:
 * after a CA rotation, the old roots may be retired only once no node still
 * holds a live certificate from them (issuedTo(), ca-rotation.ts).
 *
 * Served only over TLS (controlPlane.mtls): a token sent in clear text
 * could be read off the wire, and a certificate handed out over it could be
 * swapped on the way.
 */
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { Counter, type Registry as MetricsRegistry } from 'prom-client';
import { errorMessage } from '../../shared/errors.js';
import {
  isRevokedCertificate,
  parseSpiffeId,
  peerIdentity,
  SpiffeIdError,
  type PeerIdentity,
} from '../../shared/identity/index.js';
import type { Logger } from '../../shared/log.js';
import type {
  CertificateRequest,
  CertificateResponse,
  MeshIdentityHandlers,
} from '../../protocol/mesh/index.js';
import { CaError, isNodeId, type MeshCa, type Revocations } from '../ca/index.js';
import { CertificateRefusedError } from './certificate-refused.js';
import { csrIdentity } from './csr-identity.js';
import {
  assertGranted,
  type FirstCertificateAuthenticator,
  type TokenGrant,
} from './token-authenticators.js';
import { controlPlaneSpiffeId } from '../../shared/identity/index.js';

export interface IdentityServiceOptions {
  readonly ca: MeshCa;
  /** Checks a first request's token: bootstrapTokenAuthenticator, or TokenReview on Kubernetes. */
  readonly authenticator: FirstCertificateAuthenticator;
  readonly leafLifetimeMs: number;
  readonly metrics: MetricsRegistry;
  readonly log: Logger;
  /**
   * Identities IssueCertificate never certifies, beside the control plane's
   * own: the token issuer's (its key signs edge tokens) and the operators'
   * (their certificate stands for the admin token). The bootstrap token is
   * readable by every node of the machine, and a ServiceAccount may be
   * named like one; those identities need more.
   */
  readonly reservedIds?: ReadonlySet<string>;
  /**
   * The revocation list: a revoked certificate renews nothing, and every
   * certificate issued is noted there (its expiry, for a later revoke).
   */
  readonly revocations?: Pick<Revocations, 'has' | 'revokesIssue' | 'noteIssued'>;
}

type Call = grpc.ServerUnaryCall<CertificateRequest, CertificateResponse>;

/** Who asks: a first request with what its token grants, or a renewal with its certificate's identity. */
type Caller =
  | { readonly kind: 'first'; readonly grant: TokenGrant }
  | { readonly kind: 'renewal'; readonly identity: PeerIdentity };

/** The last certificate issued to one node (or workload). */
export interface IssuedRecord {
  readonly spiffeId: string;
  /** SHA-256 fingerprint of the root that signed it (as node:crypto writes it). */
  readonly rootFingerprint: string;
  readonly notAfterMs: number;
  /** Upper-case hex: what POST /certificates/<serial>/revoke takes. */
  readonly serialNumber: string;
}

/** Nodes (and workloads) remembered at most: the registry's bound; the least recent goes first. */
const MAX_ISSUED_RECORDS = 10_000;

export class IdentityService {
  readonly #options: IdentityServiceOptions;
  readonly #refused: Counter;
  readonly #issued: Counter;
  readonly #reservedIds: ReadonlySet<string>;
  readonly #issuedTo = new Map<string, IssuedRecord>();

  constructor(options: IdentityServiceOptions) {
    this.#options = options;
    this.#reservedIds = new Set([
      controlPlaneSpiffeId(options.ca.trustDomain),
      ...(options.reservedIds ?? []),
    ]);
    this.#refused = new Counter({
      name: 'streammesh_control_plane_certificates_refused_total',
      help:
        'IssueCertificate requests refused, by reason (no_token, bad_token, review_unavailable, not_mesh_workload, unbound_token, no_certificate, other_identity, ' +
        'other_trust_domain, reserved_identity, too_large, bad_csr, bad_node_id, revoked).',
      labelNames: ['reason'],
      registers: [options.metrics],
    });
    this.#issued = new Counter({
      name: 'streammesh_control_plane_certificates_issued_total',
      help: 'Workload certificates issued, by kind (first: with a token, the bootstrap token or a ServiceAccount token; renewal: over mutual TLS).',
      labelNames: ['kind'],
      registers: [options.metrics],
    });
  }

  /** The last certificate issued to node `id` (a SPIFFE ID for a workload without a node id). */
  issuedTo(id: string): IssuedRecord | undefined {
    return this.#issuedTo.get(id);
  }

  /** The handlers to add to the gRPC server with meshIdentityService(). */
  handlers(): MeshIdentityHandlers {
    return {
      issueCertificate: (call: Call, callback: grpc.sendUnaryData<CertificateResponse>) => {
        this.#issue(call).then(
          (response) => callback(null, response),
          (error: unknown) => {
            if (error instanceof CertificateRefusedError) {
              this.#refused.inc({ reason: error.reason });
              this.#options.log.warn(
                { reason: error.reason, node: call.request.nodeId.slice(0, 64) || undefined },
                'certificate request refused',
              );
              callback({ code: error.status, details: error.message });
              return;
            }
            this.#options.log.error({ error: errorMessage(error) }, 'certificate issue failed');
            callback({
              code: grpc.status.INTERNAL,
              details: 'the certificate could not be issued',
            });
          },
        );
      },
    };
  }

  async #issue(call: Call): Promise<CertificateResponse> {
    const { csrPem, bootstrapToken, nodeId } = call.request;
    const caller = await this.#authenticate(call, bootstrapToken);
    const { kind } = caller;
    const renewing = caller.kind === 'renewal' ? caller.identity : undefined;
    if (nodeId !== '' && !isNodeId(nodeId)) {
      throw new CertificateRefusedError(
        grpc.status.INVALID_ARGUMENT,
        'bad_node_id',
        'node_id must be a DNS label',
      );
    }
    const asked = this.#askedIdentity(csrPem);
    if (caller.kind === 'first') assertGranted(caller.grant, asked, nodeId);
    if (
      renewing !== undefined &&
      (asked !== renewing.spiffeId || nodeId !== (renewing.nodeId ?? ''))
    ) {
      throw new CertificateRefusedError(
        grpc.status.PERMISSION_DENIED,
        'other_identity',
        `a renewal may only ask for the identity of the certificate it is made with (${renewing.spiffeId})`,
      );
    }
    let issued;
    try {
      issued = await this.#options.ca.issue(csrPem, {
        spiffeId: asked,
        nodeId: nodeId === '' ? undefined : nodeId,
        lifetimeMs: this.#options.leafLifetimeMs,
      });
    } catch (error) {
      if (
        error instanceof CaError &&
        (error.code === 'ERR_CA_CSR' || error.code === 'ERR_CA_IDENTITY')
      ) {
        throw new CertificateRefusedError(grpc.status.INVALID_ARGUMENT, 'bad_csr', error.message);
      }
      throw error;
    }
    const revocations = this.#options.revocations;
    revocations?.noteIssued(
      issued.serialNumber,
      asked,
      issued.notAfter.getTime(),
      nodeId === '' ? null : nodeId,
    );
    // Revoked while the CA signed: the new certificate is of that identity and
    // issued before the revocation, so it is revoked too; answer as for a revoked one.
    if (
      renewing !== undefined &&
      revocations !== undefined &&
      isRevokedCertificate(call.getAuthContext().sslPeerCertificate, revocations)
    ) {
      throw new CertificateRefusedError(
        grpc.status.UNAUTHENTICATED,
        'revoked',
        'the client certificate is revoked: a revoked certificate renews nothing',
      );
    }
    this.#issued.inc({ kind });
    this.#remember(nodeId === '' ? asked : nodeId, {
      spiffeId: asked,
      rootFingerprint: new X509Certificate(issued.chainPem).fingerprint256,
      notAfterMs: issued.notAfter.getTime(),
      serialNumber: issued.serialNumber,
    });
    this.#options.log.info(
      {
        spiffeId: asked,
        node: nodeId || undefined,
        kind,
        ...(caller.kind === 'first' ? { holder: caller.grant.holder } : {}),
        notAfter: issued.notAfter.toISOString(),
      },
      'certificate issued',
    );
    return {
      certificatePem: issued.certificatePem,
      chainPem: issued.chainPem,
      trustBundlePem: this.#options.ca.trustBundle(),
      notAfterMs: issued.notAfter.getTime(),
      spiffeId: asked,
    };
  }

  #remember(id: string, record: IssuedRecord): void {
    this.#issuedTo.delete(id);
    this.#issuedTo.set(id, record);
    if (this.#issuedTo.size > MAX_ISSUED_RECORDS) {
      const oldest = this.#issuedTo.keys().next();
      if (oldest.done !== true) this.#issuedTo.delete(oldest.value);
    }
  }

  /**
   * The token's grant for a first issue; the certificate's identity for a
   * renewal. Throws CertificateRefusedError otherwise.
   */
  async #authenticate(call: Call, token: string): Promise<Caller> {
    if (token !== '') {
      return { kind: 'first', grant: await this.#options.authenticator.authenticate(token) };
    }
    // Present only when the handshake verified it against the trust bundle.
    const certificate = call.getAuthContext().sslPeerCertificate;
    if (certificate === undefined) {
      throw new CertificateRefusedError(
        grpc.status.UNAUTHENTICATED,
        'no_token',
        'a first certificate needs the bootstrap token; a renewal needs the current certificate (mutual TLS)',
      );
    }
    const revocations = this.#options.revocations;
    if (revocations !== undefined && isRevokedCertificate(certificate, revocations)) {
      throw new CertificateRefusedError(
        grpc.status.UNAUTHENTICATED,
        'revoked',
        'the client certificate is revoked: a revoked certificate renews nothing',
      );
    }
    const identity = peerIdentity(certificate, this.#options.ca.trustDomain);
    if (identity === undefined) {
      throw new CertificateRefusedError(
        grpc.status.UNAUTHENTICATED,
        'no_certificate',
        'the client certificate names no SPIFFE ID of this trust domain',
      );
    }
    return { kind: 'renewal', identity };
  }

  /** The SPIFFE ID the CSR asks for, if this control plane may certify it. */
  #askedIdentity(csrPem: string): string {
    const read = csrIdentity(csrPem);
    if (!read.ok)
      throw new CertificateRefusedError(grpc.status.INVALID_ARGUMENT, read.reason, read.detail);
    let trustDomain: string;
    try {
      ({ trustDomain } = parseSpiffeId(read.uri));
    } catch (error) {
      if (!(error instanceof SpiffeIdError)) throw error;
      throw new CertificateRefusedError(grpc.status.INVALID_ARGUMENT, 'bad_csr', error.message);
    }
    if (trustDomain !== this.#options.ca.trustDomain) {
      throw new CertificateRefusedError(
        grpc.status.PERMISSION_DENIED,
        'other_trust_domain',
        `${read.uri} is not in trust domain ${this.#options.ca.trustDomain}`,
      );
    }
    if (this.#reservedIds.has(read.uri)) {
      throw new CertificateRefusedError(
        grpc.status.PERMISSION_DENIED,
        'reserved_identity',
        `${read.uri} is reserved (the control plane's, the token issuer's or an operator's identity)`,
      );
    }
    return read.uri;
  }
}
