/**
 * The TRUST_BUNDLE resource: every root of the mesh CA that workloads trust
 * now, pushed by the control plane to every node (proxies and signaling
 * nodes) whenever it changes (a CA rotation adds a root, a retirement drops
 * the old ones). Without it a node would learn a new root only at its next
 * certificate renewal, and until then refuse peers already certified by it.
 *
 *   type TRUST_BUNDLE, name "mesh", body { pem: "<every trusted root>",
 *   tokenIssuers?: "<the token-issuer leaves in use>",
 *   revoked?: ["<serial, upper-case hex>", ...],
 *   revokedIdentities?: [{ spiffeId, nodeId, issuedBeforeMs }, ...] },
 *   version = digest of the body (resourceVersion, as for config resources)
 *
 * `tokenIssuers` lets an edge verify a compact edge token (one that names its
 * signing certificate by thumbprint instead of carrying it, short enough for
 * ffmpeg's 1023-byte RTSP URLs) without having seen a full token first. A
 * certificate there proves nothing by itself: every token is checked against
 * the roots of `pem`, as if it had carried the certificate.
 *
 * `revoked` names the certificates revoked before their expiry
 * (POST /certificates/<serial>/revoke): every mTLS end of the node refuses a
 * peer presenting one (src/shared/identity/revoked-serials.ts). A serial
 * leaves the list when its certificate expires. `revokedIdentities` revokes
 * every certificate of a SPIFFE ID (and node id) issued before a time: the
 * renewals of a revoked certificate, which a stolen key could have made.
 *
 * Not config: a node hands the PEM to its workload identity, which checks
 * that the certificates parse and that its own certificate's root is among
 * them (a node must never lose trust in itself) before taking it. The
 * schema only bounds the body: MAX_TRUST_BUNDLE_ROOTS roots and
 * MAX_TRUST_BUNDLE_BYTES of PEM, far more than an overlap of two or three
 * roots needs.
 */
import { z } from 'zod';
import type { RevokedIdentity } from '../shared/identity/index.js';
import { describeZodIssues, resourceVersion, type PushedResource } from './resources.js';

export const TRUST_BUNDLE = 'TRUST_BUNDLE';
/** The one TRUST_BUNDLE resource's name. */
export const TRUST_BUNDLE_NAME = 'mesh';
export const MAX_TRUST_BUNDLE_ROOTS = 16;
export const MAX_TRUST_BUNDLE_BYTES = 64 * 1024;
/** Token-issuer leaves a bundle names at most (the one in use, and one or two before it). */
export const MAX_TOKEN_ISSUERS = 4;
/**
 * Revoked serials a bundle names at most: serials leave the list when their
 * certificates expire (a day by default), so this is thousands of
 * revocations a day, and ~90 KB of body at most.
 */
export const MAX_REVOKED_SERIALS = 2048;
/** Identity rules a bundle names at most (one per certificate revoked by an operator, for a lifetime). */
export const MAX_REVOKED_IDENTITIES = 256;

/** The revocations a bundle carries (src/shared/identity/revoked-serials.ts). */
export interface BundleRevocations {
  readonly serials: readonly string[];
  readonly identities: readonly RevokedIdentity[];
}

const NO_BUNDLE_REVOCATIONS: BundleRevocations = { serials: [], identities: [] };

const PEM_BEGIN = '-----BEGIN CERTIFICATE-----';

export const trustBundleBodySchema = z.strictObject({
  revokedIdentities: z
    .array(
      z.strictObject({
        spiffeId: z.string().min(1).max(2048),
        nodeId: z.string().min(1).max(253).nullable(),
        issuedBeforeMs: z.number().int().nonnegative(),
      }),
    )
    .max(MAX_REVOKED_IDENTITIES, `must name at most ${MAX_REVOKED_IDENTITIES} identities`)
    .optional(),
  revoked: z
    .array(z.string().regex(/^[0-9A-F]{1,40}$/, 'must be a serial number in upper-case hex'))
    .max(MAX_REVOKED_SERIALS, `must name at most ${MAX_REVOKED_SERIALS} serials`)
    .optional(),
  tokenIssuers: z
    .string()
    .max(MAX_TRUST_BUNDLE_BYTES, `must be at most ${MAX_TRUST_BUNDLE_BYTES} bytes of PEM`)
    .refine(
      (pem) => pem.split(PEM_BEGIN).length - 1 <= MAX_TOKEN_ISSUERS,
      `must hold at most ${MAX_TOKEN_ISSUERS} certificates`,
    )
    .optional(),
  pem: z
    .string()
    .max(MAX_TRUST_BUNDLE_BYTES, `must be at most ${MAX_TRUST_BUNDLE_BYTES} bytes of PEM`)
    .refine((pem) => pem.includes(PEM_BEGIN), 'must hold PEM certificates')
    .refine(
      (pem) => pem.split(PEM_BEGIN).length - 1 <= MAX_TRUST_BUNDLE_ROOTS,
      `must hold at most ${MAX_TRUST_BUNDLE_ROOTS} certificates`,
    ),
});

export type TrustBundleBody = z.infer<typeof trustBundleBodySchema>;

/**
 * The TRUST_BUNDLE resource holding `pem`, and the token issuers' leaves and
 * the revoked serials when there are any.
 */
export function trustBundleResource(
  pem: string,
  tokenIssuers?: string,
  revocations: BundleRevocations = NO_BUNDLE_REVOCATIONS,
): PushedResource {
  const { serials, identities } = revocations;
  const body: TrustBundleBody = {
    pem,
    ...(tokenIssuers === undefined ? {} : { tokenIssuers }),
    ...(serials.length === 0 ? {} : { revoked: [...serials] }),
    ...(identities.length === 0 ? {} : { revokedIdentities: [...identities] }),
  };
  return {
    type: TRUST_BUNDLE,
    name: TRUST_BUNDLE_NAME,
    order: 0,
    body,
    version: resourceVersion(body),
  };
}

/** A body as the schema reads it, or the reason it is refused (one line). */
export function parseTrustBundleBody(body: unknown): TrustBundleBody | string {
  const parsed = trustBundleBodySchema.safeParse(body);
  if (parsed.success) return parsed.data;
  return describeZodIssues(parsed.error);
}
