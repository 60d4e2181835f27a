/**
 * SPIFFE IDs: the names workloads have in the mesh, carried as the URI SAN
 * of their certificates (spiffe://<trust domain>/ns/<namespace>/sa/<service
 * account>, the shape Istio and Linkerd use).
 *
 * Stricter than the SPIFFE spec on purpose: the trust domain is a lowercase
 * DNS name and the namespace and service account are DNS labels (as
 * Kubernetes names them), so an ID has exactly one spelling. Two spellings of
 * one identity (case, percent-encoding, a trailing slash) would let an
 * authorization policy that matches one be bypassed with the other.
 */
import { StreammeshError } from '../errors.js';

export class SpiffeIdError extends StreammeshError {
  constructor(message: string) {
    super('ERR_SPIFFE_ID', message);
  }
}

export interface SpiffeIdParts {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const DNS_LABEL = new RegExp(`^${LABEL}$`);
const DNS_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
const SPIFFE_ID = new RegExp(`^spiffe://(${LABEL}(?:\\.${LABEL})*)/ns/(${LABEL})/sa/(${LABEL})$`);
/** RFC 1035's limit on a whole name. */
const MAX_DNS_NAME = 253;

/** Why a trust domain is not acceptable, or undefined when it is. */
export function trustDomainDefect(trustDomain: string): string | undefined {
  if (trustDomain.length > MAX_DNS_NAME || !DNS_NAME.test(trustDomain)) {
    return 'must be a lowercase DNS name (labels of a-z, 0-9 and "-", joined by ".")';
  }
  return undefined;
}

export function assertTrustDomain(trustDomain: string): void {
  const defect = trustDomainDefect(trustDomain);
  if (defect !== undefined)
    throw new SpiffeIdError(`trust domain ${JSON.stringify(trustDomain)} ${defect}`);
}

/** spiffe://<td>/ns/<ns>/sa/<sa>; throws SpiffeIdError when a part is not acceptable. */
export function spiffeId(parts: SpiffeIdParts): string {
  assertTrustDomain(parts.trustDomain);
  for (const [what, value] of [
    ['namespace', parts.namespace],
    ['service account', parts.serviceAccount],
  ] as const) {
    if (!DNS_LABEL.test(value)) {
      throw new SpiffeIdError(
        `${what} ${JSON.stringify(value)} must be a DNS label (a-z, 0-9 and "-", at most 63 characters)`,
      );
    }
  }
  return `spiffe://${parts.trustDomain}/ns/${parts.namespace}/sa/${parts.serviceAccount}`;
}

/** The parts of an ID spiffeId() would write; anything else throws SpiffeIdError. */
export function parseSpiffeId(uri: string): SpiffeIdParts {
  const match = SPIFFE_ID.exec(uri);
  const [, trustDomain, namespace, serviceAccount] = match ?? [];
  if (
    trustDomain === undefined ||
    namespace === undefined ||
    serviceAccount === undefined ||
    trustDomain.length > MAX_DNS_NAME
  ) {
    throw new SpiffeIdError(
      `${JSON.stringify(uri.slice(0, 300))} is not a mesh SPIFFE ID (spiffe://<trust domain>/ns/<namespace>/sa/<service account>)`,
    );
  }
  return { trustDomain, namespace, serviceAccount };
}
