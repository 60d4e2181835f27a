/**
 * Operator certificates (issue 17, point 6): `POST /certificates` on the
 * control plane's admin listener, for holders of the admin token only,
 * certifies a CSR whose one SPIFFE ID is an operator identity
 * (controlPlane.operators; default spiffe://<td>/ns/streammesh/sa/operator).
 * With it, an operator's tools call the mutual-TLS admin listener
 * (controlPlane.adminMtls) without the shared token: a certificate names who
 * acted, expires by itself (the CA's leaf lifetime), and is never written in
 * a shell history.
 *
 * The admin token is the only way to one: the bootstrap token, which every
 * node of the machine can read, never certifies an operator identity
 * (IssueCertificate refuses the IDs operatorIds() returns).
 *
 * Answers: 200 {certificatePem, chainPem, trustBundlePem, notAfterMs,
 * spiffeId}; 400 for a body or CSR that cannot be read; 403 for an ID that
 * is not an operator's. The CSR's key is the operator's; the control plane
 * never sees a private key.
 */
import type { MeshConfig } from '../config/index.js';
import type { AdminServer } from '../shared/admin/index.js';
import { errorMessage } from '../shared/errors.js';
import { spiffeId } from '../shared/identity/index.js';
import type { Logger } from '../shared/log.js';
import { CaError, type MeshCa, type Revocations } from './ca/index.js';
import { csrIdentity } from './identity/index.js';

export const OPERATOR_NAMESPACE = 'streammesh';
export const OPERATOR_SERVICE_ACCOUNT = 'operator';

/** The SPIFFE IDs whose client certificate counts as the admin token. */
export function operatorIds(controlPlane: MeshConfig['controlPlane']): ReadonlySet<string> {
  return new Set(
    controlPlane.operators ?? [
      spiffeId({
        trustDomain: controlPlane.trustDomain,
        namespace: OPERATOR_NAMESPACE,
        serviceAccount: OPERATOR_SERVICE_ACCOUNT,
      }),
    ],
  );
}

export interface OperatorCertificateOptions {
  readonly ca: MeshCa;
  readonly operators: ReadonlySet<string>;
  readonly leafLifetimeMs: number;
  readonly log: Logger;
  /** Told of every certificate issued, so that it can be revoked by serial. */
  readonly revocations?: Pick<Revocations, 'noteIssued'>;
}

export function addOperatorCertificateRoute(
  admin: AdminServer,
  options: OperatorCertificateOptions,
): void {
  admin.route(
    'POST',
    '/certificates',
    async (request) => {
      let csrPem: unknown;
      try {
        ({ csrPem } = JSON.parse(await request.body()) as { csrPem?: unknown });
      } catch {
        return { status: 400, body: { error: 'the body must be JSON: {"csrPem": "<PEM>"}' } };
      }
      if (typeof csrPem !== 'string') {
        return { status: 400, body: { error: 'csrPem must be a PEM certificate request' } };
      }
      const asked = csrIdentity(csrPem);
      if (!asked.ok) return { status: 400, body: { error: asked.detail } };
      if (!options.operators.has(asked.uri)) {
        return {
          status: 403,
          body: {
            error: `${asked.uri.slice(0, 300)} is not an operator identity (controlPlane.operators)`,
          },
        };
      }
      try {
        const issued = await options.ca.issue(csrPem, {
          spiffeId: asked.uri,
          lifetimeMs: options.leafLifetimeMs,
        });
        options.revocations?.noteIssued(
          issued.serialNumber,
          asked.uri,
          issued.notAfter.getTime(),
          null,
        );
        options.log.info(
          { spiffeId: asked.uri, notAfter: issued.notAfter.toISOString() },
          'operator certificate issued',
        );
        return {
          status: 200,
          body: {
            certificatePem: issued.certificatePem,
            chainPem: issued.chainPem,
            trustBundlePem: options.ca.trustBundle(),
            notAfterMs: issued.notAfter.getTime(),
            spiffeId: asked.uri,
          },
        };
      } catch (error) {
        if (error instanceof CaError) return { status: 400, body: { error: errorMessage(error) } };
        throw error;
      }
    },
    { access: 'token' },
  );
}
