/**
 * The SPIFFE ID a certificate request asks for: its one URI SAN. Read
 * before anything is signed, so that IssueCertificate can check that the
 * caller may have that ID (the CA itself then writes the ID it was told,
 * taking only the key from the CSR).
 *
 * A request larger than MAX_CSR_BYTES is refused before parsing; one that
 * does not parse, or names no URI or several, names no identity.
 */
import { Pkcs10CertificateRequest, SubjectAlternativeNameExtension } from '@peculiar/x509';
import { MAX_CSR_BYTES } from '../ca/index.js';

/** The SAN extension's OID. */
const SUBJECT_ALT_NAME = '2.5.29.17';

export type CsrIdentity =
  | { readonly ok: true; readonly uri: string }
  | { readonly ok: false; readonly reason: 'too_large' | 'bad_csr'; readonly detail: string };

export function csrIdentity(csrPem: string): CsrIdentity {
  if (Buffer.byteLength(csrPem) > MAX_CSR_BYTES) {
    return { ok: false, reason: 'too_large', detail: `the CSR is over ${MAX_CSR_BYTES} bytes` };
  }
  let csr: Pkcs10CertificateRequest;
  try {
    csr = new Pkcs10CertificateRequest(csrPem);
  } catch {
    return {
      ok: false,
      reason: 'bad_csr',
      detail: 'the CSR is not a PKCS#10 certificate request',
    };
  }
  let uris: string[];
  try {
    const extension = csr.getExtension(SUBJECT_ALT_NAME);
    const names =
      extension instanceof SubjectAlternativeNameExtension
        ? extension.names.toJSON()
        : extension === null
          ? []
          : new SubjectAlternativeNameExtension(extension.rawData).names.toJSON();
    uris = names.filter((name) => name.type === 'url').map((name) => name.value);
  } catch {
    return {
      ok: false,
      reason: 'bad_csr',
      detail: "the CSR's subject alternative names cannot be read",
    };
  }
  const [uri] = uris;
  if (uris.length !== 1 || uri === undefined) {
    return {
      ok: false,
      reason: 'bad_csr',
      detail: `the CSR must ask for exactly one URI SAN (its SPIFFE ID), not ${uris.length}`,
    };
  }
  return { ok: true, uri };
}
