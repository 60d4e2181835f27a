/**
 * The two kinds of certificate the mesh CA writes: its root and a
 * workload's leaf. Nothing here reads a file or decides a policy; the
 * MeshCa does.
 *
 * Built and signed with @peculiar/x509 over node's WebCrypto, with ECDSA
 * P-256 and SHA-256 (node-forge, chosen first, signs only with RSA).
 */
import { randomBytes, webcrypto } from 'node:crypto';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509CertificateGenerator,
  type PublicKey,
  type X509Certificate,
} from '@peculiar/x509';
import {
  ISSUE_BACKDATE_MS,
  SIGNING_ALGORITHM,
  WORKLOAD_KEY_ALGORITHM,
} from '../../shared/identity/index.js';

type KeyPair = webcrypto.CryptoKeyPair;

/**
 * Allowance for clocks of workloads that run behind the CA's: leaves are
 * backdated by it, which revocation by identity reads back (revoked-serials.ts).
 */
export const CLOCK_SKEW_MS = ISSUE_BACKDATE_MS;
export const ROOT_LIFETIME_MS = 10 * 365 * 86_400_000;

/**
 * 16 random bytes as a positive DER INTEGER of minimal encoding: the top
 * bit is cleared (else negative) and the next one set (else a leading zero
 * byte would be dropped): 126 random bits, as RFC 5280 asks for unpredictable
 * serials.
 */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes.toString('hex');
}

export async function generateRootKey(): Promise<KeyPair> {
  return await webcrypto.subtle.generateKey(WORKLOAD_KEY_ALGORITHM, true, ['sign', 'verify']);
}

export function rootSubject(trustDomain: string): string {
  return `O=streammesh, CN=streammesh root ${trustDomain}`;
}

/**
 * A self-signed root that may sign leaves only (pathLen 0: no intermediate
 * CA can be made under it), valid ten years from now.
 */
export async function createRootCertificate(
  keys: KeyPair,
  trustDomain: string,
  now: number,
): Promise<X509Certificate> {
  return X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerial(),
      name: rootSubject(trustDomain),
      notBefore: new Date(now - CLOCK_SKEW_MS),
      notAfter: new Date(now + ROOT_LIFETIME_MS),
      keys,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new BasicConstraintsExtension(true, 0, true),
        new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
        await SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
}

export interface LeafRequest {
  readonly publicKey: PublicKey;
  readonly spiffeId: string;
  /** A node's id (a DNS label, checked by the caller): the subject CN. */
  readonly nodeId?: string | undefined;
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * A workload leaf: its SPIFFE ID as the only name, for TLS on both ends of
 * a connection; a node's leaf also says which node it is (subject CN).
 */
export async function createLeafCertificate(
  issuer: { readonly certificate: X509Certificate; readonly privateKey: webcrypto.CryptoKey },
  leaf: LeafRequest,
): Promise<X509Certificate> {
  return X509CertificateGenerator.create(
    {
      serialNumber: leaf.serialNumber,
      // SPIFFE's X509-SVID: the URI SAN is the identity. A node's CN is its
      // node id, which the control plane matches against the id it registers
      // as: one service account may run many nodes.
      subject: leaf.nodeId === undefined ? 'O=streammesh' : `CN=${leaf.nodeId}, O=streammesh`,
      issuer: issuer.certificate.subjectName,
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
      publicKey: leaf.publicKey,
      signingKey: issuer.privateKey,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new BasicConstraintsExtension(false, undefined, true),
        new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
        new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth]),
        new SubjectAlternativeNameExtension([{ type: 'url', value: leaf.spiffeId }]),
        await SubjectKeyIdentifierExtension.create(leaf.publicKey, false, webcrypto),
        // Two roots of one trust domain share a subject during a rotation; the
        // key identifier tells verifiers which one signed.
        await AuthorityKeyIdentifierExtension.create(
          issuer.certificate.publicKey,
          false,
          webcrypto,
        ),
      ],
    },
    webcrypto,
  );
}
