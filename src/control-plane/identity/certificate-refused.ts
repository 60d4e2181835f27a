/**
 * IssueCertificate's refusal: the gRPC status the caller gets, the reason
 * the refusal metric counts, and the words the caller is told (never a
 * token or a key). Thrown by the service and by the token authenticators.
 */
import type * as grpc from '@grpc/grpc-js';
import { StreammeshError } from '../../shared/errors.js';

export type RefusalReason =
  | 'no_token'
  | 'bad_token'
  | 'review_unavailable'
  | 'not_mesh_workload'
  | 'unbound_token'
  | 'no_certificate'
  | 'other_identity'
  | 'other_trust_domain'
  | 'reserved_identity'
  | 'too_large'
  | 'bad_csr'
  | 'bad_node_id'
  | 'revoked';

/** A request refused: its gRPC status, the metric's reason, and what the caller is told. */
export class CertificateRefusedError extends StreammeshError {
  readonly status: grpc.status;
  readonly reason: RefusalReason;

  constructor(status: grpc.status, reason: RefusalReason, details: string) {
    super('ERR_CERTIFICATE_REFUSED', details);
    this.status = status;
    this.reason = reason;
  }
}
