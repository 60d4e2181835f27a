/**
 * Revoked certificates: what every mutual-TLS end of the mesh checks a
 * verified peer certificate against, after the handshake.
 *
 * The control plane keeps the list (control-plane/ca/revocations.ts) and
 * pushes it to every node with the trust bundle. It has two parts:
 *
 * - serials: the certificates revoked by serial number, each until it
 *   expires, so the list stays as short as the leaves' lifetime keeps it;
 * - identities: for a revoked certificate the control plane issued, every
 *   certificate of the same SPIFFE ID (and node id, for a node) issued
 *   before the revocation. A holder of a stolen key could otherwise renew
 *   it into a fresh serial before the operator revokes the one they know
 *   of, and an operator who leaves could have minted another operator
 *   certificate. Certificates issued after the revocation (a node that
 *   bootstraps again, with a new key) pass.
 *
 * When a certificate was issued is read from its notBefore, which the CA
 * backdates by ISSUE_BACKDATE_MS for clock skew.
 *
 * A list rather than an X.509 CRL: node:tls checks a CRL for every CA in
 * the chain (CRL_CHECK_ALL) and grpc-js takes none, while every TLS end sees
 * the peer certificate's serial, names and notBefore, and one check serves
 * every port alike.
 *
 * Serials are compared as upper-case hex without separators or leading
 * zeros: node's X509Certificate and PeerCertificate write them upper-case,
 * openssl with colons, an operator may paste either.
 */
import type { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';

/** How far the mesh CA backdates a leaf's notBefore (clock skew between machines). */
export const ISSUE_BACKDATE_MS = 5 * 60_000;
/**
 * notBefore keeps whole seconds: a certificate was issued up to this much
 * after what it says. Identity rules revoke only what was certainly issued
 * before them, so a node that bootstraps again right after a revocation
 * gets in; a renewal under way while its certificate is revoked is refused
 * by the control plane itself.
 */
const NOT_BEFORE_PRECISION_MS = 999;

/** Every certificate of `spiffeId` (and `nodeId`, null for any) issued before `issuedBeforeMs`. */
export interface RevokedIdentity {
  readonly spiffeId: string;
  readonly nodeId: string | null;
  readonly issuedBeforeMs: number;
}

/** A revocation list, as the TLS ends ask it. */
export interface RevokedSerials {
  has(serial: string): boolean;
  /** Whether a certificate of `spiffeId` and `nodeId` issued at `issuedAtMs` is revoked by identity. */
  revokesIssue?(spiffeId: string, nodeId: string | undefined, issuedAtMs: number): boolean;
}

/** Nothing revoked: for an end that has not been told of any list yet. */
export const NO_REVOCATIONS: RevokedSerials = { has: () => false };

/** Hex digits of a serial (RFC 5280 allows 20 octets), with ':' separators or not. */
const SERIAL = /^(?:[0-9a-fA-F]{1,2}:)*[0-9a-fA-F]{1,40}$/;
const MAX_SERIAL_DIGITS = 40;

/** `serial` in the one form the mesh compares; undefined when it is not a serial. */
export function normalizeSerial(serial: string): string | undefined {
  if (serial.length > MAX_SERIAL_DIGITS * 2 || !SERIAL.test(serial)) return undefined;
  const digits = serial
    .replaceAll(':', '')
    .toUpperCase()
    .replace(/^0+(?=.)/, '');
  return digits.length > MAX_SERIAL_DIGITS ? undefined : digits;
}

/** Whether an identity rule covers a certificate of `spiffeId`/`nodeId` issued at `issuedAtMs`. */
export function identityRevokes(
  rule: RevokedIdentity,
  spiffeId: string,
  nodeId: string | undefined,
  issuedAtMs: number,
): boolean {
  return (
    rule.spiffeId === spiffeId &&
    (rule.nodeId === null || rule.nodeId === nodeId) &&
    issuedAtMs < rule.issuedBeforeMs
  );
}

/** The list of `serials` (normalized; what is not a serial is left out) and `identities`. */
export function revokedSerialSet(
  serials: Iterable<string>,
  identities: readonly RevokedIdentity[] = [],
): RevokedSerials & { size: number } {
  const set = new Set<string>();
  for (const serial of serials) {
    const normalized = normalizeSerial(serial);
    if (normalized !== undefined) set.add(normalized);
  }
  return {
    has: (serial) => set.has(normalizeSerial(serial) ?? ''),
    revokesIssue: (spiffeId, nodeId, issuedAtMs) =>
      identities.some((rule) => identityRevokes(rule, spiffeId, nodeId, issuedAtMs)),
    size: set.size,
  };
}

/** What the check reads of a certificate, however node hands it over. */
interface CertificateFacts {
  readonly serial: string | undefined;
  /** The one URI SAN, undefined for none or several. */
  readonly spiffeId: string | undefined;
  readonly nodeId: string | undefined;
  /** notBefore plus the CA's backdating and its precision: the latest it was issued. NaN when unknown. */
  readonly issuedAtMs: number;
}

function isRevoked(facts: CertificateFacts, revoked: RevokedSerials): boolean {
  if (facts.serial !== undefined && facts.serial !== '' && revoked.has(facts.serial)) return true;
  if (facts.spiffeId === undefined || revoked.revokesIssue === undefined) return false;
  // A notBefore that cannot be read is taken as issued long ago: revoked if its identity is.
  const issuedAtMs = Number.isFinite(facts.issuedAtMs) ? facts.issuedAtMs : 0;
  return revoked.revokesIssue(facts.spiffeId, facts.nodeId, issuedAtMs);
}

/** The one URI of a subjectAltName text ("URI:spiffe://..., DNS:..."), if exactly one. */
function onlyUri(names: string | undefined): string | undefined {
  if (typeof names !== 'string') return undefined;
  const uris = names.split(', ').filter((name) => name.startsWith('URI:'));
  return uris.length === 1 ? uris[0]?.slice('URI:'.length) : undefined;
}

/** Whether a verified peer certificate (node:tls, grpc-js) is revoked. */
export function isRevokedCertificate(
  certificate:
    | Partial<Pick<PeerCertificate, 'serialNumber' | 'valid_from' | 'subject' | 'subjectaltname'>>
    | undefined,
  revoked: RevokedSerials,
): boolean {
  if (certificate === undefined) return false;
  const cn = certificate.subject?.CN;
  return isRevoked(
    {
      serial: certificate.serialNumber,
      spiffeId: onlyUri(certificate.subjectaltname),
      nodeId: typeof cn === 'string' ? cn : undefined,
      issuedAtMs:
        Date.parse(certificate.valid_from ?? '') + ISSUE_BACKDATE_MS + NOT_BEFORE_PRECISION_MS,
    },
    revoked,
  );
}

/** Whether a certificate parsed by node:crypto (an edge token's signer) is revoked. */
export function isRevokedX509(certificate: X509Certificate, revoked: RevokedSerials): boolean {
  const cn = /^CN=(.*)$/m.exec(certificate.subject)?.[1];
  return isRevoked(
    {
      serial: certificate.serialNumber,
      spiffeId: onlyUri(certificate.subjectAltName),
      nodeId: cn,
      issuedAtMs: Date.parse(certificate.validFrom) + ISSUE_BACKDATE_MS + NOT_BEFORE_PRECISION_MS,
    },
    revoked,
  );
}
