/**
 * Revoked certificates, by serial number: what every mutual-TLS end of the
 * mesh checks a verified peer certificate against, after the handshake.
 *
 * The control plane keeps the list (control-plane/identity/revocations.ts)
 * and pushes it to every node with the trust bundle; each serial stays on it
 * until the certificate it names expires, so the list stays as short as the
 * leaves' lifetime (24 h by default) keeps it. A serial list rather than an
 * X.509 CRL: node:tls checks a CRL for every CA in the chain (CRL_CHECK_ALL)
 * and grpc-js takes none, while a serial is on every peer certificate
 * node:tls and grpc-js hand over, and one set serves every port alike.
 *
 * Serials are compared as upper-case hex without separators or leading
 * zeros: node's X509Certificate and PeerCertificate write them upper-case,
 * openssl with colons, an operator may paste either.
 */

/** A set of revoked serials, as the TLS ends ask it. */
export interface RevokedSerials {
  has(serial: string): boolean;
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

/** A set of `serials` (normalized; entries that are not serials are left out). */
export function revokedSerialSet(serials: Iterable<string>): RevokedSerials & { size: number } {
  const set = new Set<string>();
  for (const serial of serials) {
    const normalized = normalizeSerial(serial);
    if (normalized !== undefined) set.add(normalized);
  }
  return { has: (serial) => set.has(normalizeSerial(serial) ?? ''), size: set.size };
}

/** Whether a verified peer certificate is revoked (one without a serial is not). */
export function isRevokedCertificate(
  certificate: { readonly serialNumber?: string | undefined } | undefined,
  revoked: RevokedSerials,
): boolean {
  const serial = certificate?.serialNumber;
  return typeof serial === 'string' && serial !== '' && revoked.has(serial);
}
