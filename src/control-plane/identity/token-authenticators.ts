/**
 * What the token of a first certificate request proves, one authenticator
 * per registry:
 *
 * - embedded (file registry): the bootstrap token, compared in constant
 *   time. Whoever holds it may ask for any SPIFFE ID of the trust domain
 *   (reserved ones aside: issue-service.ts) and any node id: it is the
 *   machine's shared secret;
 * - Kubernetes: the workload's ServiceAccount token, checked with
 *   TokenReview (kubernetes/token-review.ts). Only the ServiceAccounts the
 *   mesh runs as (its proxies' and signaling nodes') are certified, and
 *   only with a token bound to a pod; such a token may ask only for its
 *   ServiceAccount's SPIFFE ID and that pod's name as node id: another
 *   workload of the cluster cannot become a proxy, and a compromised pod
 *   cannot be certified as another node.
 *
 * A token refused is UNAUTHENTICATED bad_token; a valid token of a
 * ServiceAccount the mesh does not run as, or one bound to no pod, is
 * PERMISSION_DENIED not_mesh_workload or unbound_token; an API server that
 * gives no verdict is UNAVAILABLE review_unavailable (the node retries),
 * never a certificate. assertGranted() holds a first request to its grant.
 */
import * as grpc from '@grpc/grpc-js';
import type { TokenCredentials } from '../../shared/admin/index.js';
import { TokenReviewUnavailableError, type TokenReviewer } from '../kubernetes/index.js';
import { CertificateRefusedError } from './certificate-refused.js';

/** What a first request may ask for; a field left undefined is not limited by the token. */
export interface TokenGrant {
  /** The only SPIFFE ID the request may ask for. */
  readonly spiffeId?: string;
  /** The only node id (CN) the request may ask for. */
  readonly nodeId?: string;
  /** Who the token stands for, for the log line of an issue (never the token). */
  readonly holder: string;
}

export interface FirstCertificateAuthenticator {
  /** How tokens are checked, for the start-up line: never a token. */
  describe(): string;
  /** The token's grant; rejects with CertificateRefusedError. */
  authenticate(token: string): Promise<TokenGrant>;
}

/** The embedded mode's: the bootstrap token, which grants any identity. */
export function bootstrapTokenAuthenticator(
  credentials: Pick<TokenCredentials, 'matches' | 'describe'>,
): FirstCertificateAuthenticator {
  return {
    describe: () => credentials.describe(),
    authenticate(token) {
      if (!credentials.matches(token)) {
        return Promise.reject(
          new CertificateRefusedError(
            grpc.status.UNAUTHENTICATED,
            'bad_token',
            'the bootstrap token is not valid',
          ),
        );
      }
      return Promise.resolve({ holder: 'bootstrap token' });
    },
  };
}

/** Kubernetes': a ServiceAccount token, checked with TokenReview, which grants its own identity. */
export function serviceAccountTokenAuthenticator(
  reviewer: Pick<TokenReviewer, 'check' | 'audience'>,
): FirstCertificateAuthenticator {
  return {
    describe: () => `ServiceAccount tokens (TokenReview, audience ${reviewer.audience})`,
    async authenticate(token) {
      let verdict;
      try {
        verdict = await reviewer.check(token);
      } catch (error) {
        if (!(error instanceof TokenReviewUnavailableError)) throw error;
        throw new CertificateRefusedError(
          grpc.status.UNAVAILABLE,
          'review_unavailable',
          'the token could not be checked now (the Kubernetes API server did not answer); try again',
        );
      }
      if (!verdict.ok) {
        // A valid token of the wrong workload is a matter of permission, not of proof.
        if (verdict.reason === 'not_mesh_workload' || verdict.reason === 'unbound_token') {
          throw new CertificateRefusedError(
            grpc.status.PERMISSION_DENIED,
            verdict.reason,
            verdict.detail,
          );
        }
        throw new CertificateRefusedError(grpc.status.UNAUTHENTICATED, 'bad_token', verdict.detail);
      }
      return {
        spiffeId: verdict.spiffeId,
        nodeId: verdict.podName,
        holder: `ServiceAccount ${verdict.namespace}/${verdict.serviceAccount} (pod ${verdict.podName})`,
      };
    },
  };
}

/**
 * Holds a first request to its token's grant: the SPIFFE ID `asked` (the
 * CSR's) and the node id (the certificate's CN) must be the granted ones.
 * Throws CertificateRefusedError PERMISSION_DENIED other_identity.
 */
export function assertGranted(grant: TokenGrant, asked: string, nodeId: string): void {
  if (grant.spiffeId !== undefined && asked !== grant.spiffeId) {
    throw new CertificateRefusedError(
      grpc.status.PERMISSION_DENIED,
      'other_identity',
      `the token is ${grant.holder}'s: it may ask only for ${grant.spiffeId}`,
    );
  }
  if (grant.nodeId !== undefined && nodeId !== grant.nodeId) {
    throw new CertificateRefusedError(
      grpc.status.PERMISSION_DENIED,
      'other_identity',
      `the token is bound to pod ${grant.nodeId}: node_id must be ${grant.nodeId}`,
    );
  }
}
