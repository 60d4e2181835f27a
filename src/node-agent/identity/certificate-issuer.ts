/**
 * The one call a node makes to get a certificate: MeshIdentity.IssueCertificate
 * on the control plane's gRPC listener, over TLS that checks the server is
 * the control plane (its SPIFFE ID, against the trust bundle given). A first
 * request carries the bootstrap token; a renewal presents the node's current
 * certificate instead (mutual TLS).
 *
 * Each call has its own channel, closed after it: a node asks once at start
 * and then every half lifetime, and a fresh channel takes the credentials of
 * that moment (the bundle may have been rotated, the certificate renewed).
 *
 * Behind an interface so that the renewal schedule is tested without a socket.
 */
import * as grpc from '@grpc/grpc-js';
import { StreammeshError } from '../../shared/errors.js';
import { controlPlaneSpiffeId, spiffeServerIdentityCheck } from '../../shared/identity/index.js';
import {
  createMeshIdentityClient,
  type CertificateRequest,
  type CertificateResponse,
} from '../../protocol/mesh/index.js';

/** How long one request may take: a CA issues in milliseconds. */
const ISSUE_DEADLINE_MS = 10_000;
/** Characters of the control plane's refusal kept in a message. */
const MAX_DETAILS = 300;

/** The TLS side of a request: roots to check the server with, and the node's own certificate for a renewal. */
export interface IssuerTls {
  readonly trustBundlePem: string;
  readonly client?: { readonly certificateChainPem: string; readonly privateKeyPem: string };
}

export interface CertificateIssuer {
  /** Resolves with the control plane's answer; rejects with a CertificateIssueError. */
  issue(request: CertificateRequest, tls: IssuerTls): Promise<CertificateResponse>;
}

/** The request failed: `status` names how (a gRPC status name), stable across attempts. */
export class CertificateIssueError extends StreammeshError {
  readonly status: string;

  constructor(status: string, message: string) {
    super('ERR_CERTIFICATE_ISSUE', message);
    this.status = status;
  }
}

export function grpcCertificateIssuer(address: string, trustDomain: string): CertificateIssuer {
  const expected = controlPlaneSpiffeId(trustDomain);
  const checkServerIdentity = spiffeServerIdentityCheck(
    trustDomain,
    (identity) => identity.spiffeId === expected,
  );
  return {
    issue(request, tls) {
      const credentials = grpc.credentials.createSsl(
        Buffer.from(tls.trustBundlePem),
        tls.client === undefined ? null : Buffer.from(tls.client.privateKeyPem),
        tls.client === undefined ? null : Buffer.from(tls.client.certificateChainPem),
        { checkServerIdentity },
      );
      const client = createMeshIdentityClient(address, credentials);
      return new Promise<CertificateResponse>((resolve, reject) => {
        client.issueCertificate(
          request,
          { deadline: Date.now() + ISSUE_DEADLINE_MS },
          (error, response) => {
            client.close();
            if (error === null && response !== undefined) {
              resolve(response);
              return;
            }
            // A code grpc-js does not know has no name.
            const named: string | undefined = error === null ? undefined : grpc.status[error.code];
            const status = error === null ? 'EMPTY_RESPONSE' : (named ?? 'UNKNOWN');
            // The details are the control plane's or the TLS stack's words, never the request's.
            const details = (error?.details ?? 'no response').slice(0, MAX_DETAILS);
            reject(
              new CertificateIssueError(
                status,
                `certificate request to the control plane at ${address} failed: ${status}: ${details}`,
              ),
            );
          },
        );
      });
    },
  };
}
