/**
 * What the token of a first certificate request proves, one authenticator
 * per registry:
 *
 * - embedded (file registry): the bootstrap token, compared in constant
 *   time. Whoever holds it may ask for any SPIFFE ID of the trust domain
 *   (reserved ones aside: issue-service.ts) and any node id: it is the
 *   machine's shared secret;
 * - Kubernetes: the workload's ServiceAccount token, checked with
 *   TokenReview (kubernetes/token-review.ts). It may ask only for its
 *   ServiceAccount's SPIFFE ID and, when bound to a pod, only for that
 *   pod's name as node id: a compromised pod cannot be certified as
 *   another workload.
 *
 * A token refused is UNAUTHENTICATED bad_token; an API server that gives
 * no verdict is UNAVAILABLE review_unavailable (the node retries), never a
 * certificate.
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
        throw new CertificateRefusedError(grpc.status.UNAUTHENTICATED, 'bad_token', verdict.detail);
      }
      return {
        spiffeId: verdict.spiffeId,
        ...(verdict.podName === undefined ? {} : { nodeId: verdict.podName }),
        holder: `ServiceAccount ${verdict.namespace}/${verdict.serviceAccount}${
          verdict.podName === undefined ? '' : ` (pod ${verdict.podName})`
        }`,
      };
    },
  };
}
