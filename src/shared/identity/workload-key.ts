/**
 * A workload's side of getting a certificate: its own key pair, which never
 * leaves the process, and a PKCS#10 request that asks for its SPIFFE ID.
 *
 * Keys are ECDSA P-256 from node's WebCrypto: a P-256 signature costs far
 * less than RSA's in a TLS handshake, and the certificates are small. The CA
 * decides the names in the certificate itself; the SAN requested here is a
 * courtesy for tools that read the CSR.
 *
 * @peculiar/x509 is imported when a CSR is first made, not with this module:
 * the config schema validates trust domains through this module's index,
 * and every process (and config parse worker) would otherwise pay the
 * library's ~100 ms load.
 */
import { KeyObject, webcrypto } from 'node:crypto';
import { parseSpiffeId } from './spiffe-id.js';

export const WORKLOAD_KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

/**
 * A new P-256 key pair. Extractable, since node:tls takes the private key as
 * PEM (privateKeyPem()).
 */
export async function generateWorkloadKey(): Promise<webcrypto.CryptoKeyPair> {
  return await webcrypto.subtle.generateKey(WORKLOAD_KEY_ALGORITHM, true, ['sign', 'verify']);
}

/** PKCS#10 PEM signed by the key, requesting `id` (checked) as its URI SAN. */
export async function createCsr(key: webcrypto.CryptoKeyPair, id: string): Promise<string> {
  parseSpiffeId(id);
  const { Pkcs10CertificateRequestGenerator, SubjectAlternativeNameExtension } =
    await import('@peculiar/x509');
  const csr = await Pkcs10CertificateRequestGenerator.create(
    {
      keys: key,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [new SubjectAlternativeNameExtension([{ type: 'url', value: id }])],
    },
    webcrypto,
  );
  return csr.toString('pem');
}

/** The private key as PKCS#8 PEM, the form node:tls and openssl read. */
export function privateKeyPem(key: webcrypto.CryptoKeyPair): string {
  return KeyObject.from(key.privateKey).export({ type: 'pkcs8', format: 'pem' }) as string;
}
