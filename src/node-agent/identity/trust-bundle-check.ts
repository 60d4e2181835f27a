/**
 * Whether a pushed trust bundle may replace the one a node holds: every
 * block must parse as a certificate, and the root of the node's own
 * certificate chain must be among them. A bundle without that root would
 * make the node refuse its own certificate's siblings (every peer certified
 * by the same root) and, at its next renewal, the control plane itself: a
 * node must never lose trust in itself, whatever the control plane sends.
 */
import { X509Certificate } from 'node:crypto';
import { pemCertificateBlocks, type WorkloadCertificates } from '../../shared/identity/index.js';

/** Why a bundle is refused: it is not certificates, or it would not trust the node itself. */
export interface TrustBundleRefusal {
  readonly kind: 'invalid' | 'untrusted_self';
  readonly message: string;
}

/** Why `pem` cannot be the bundle of a node holding `current`; undefined when it can. */
export function trustBundleRefusal(
  pem: string,
  current: Pick<WorkloadCertificates, 'certificatePem' | 'chainPem'> | undefined,
): TrustBundleRefusal | undefined {
  const invalid = (message: string): TrustBundleRefusal => ({ kind: 'invalid', message });
  const blocks = pemCertificateBlocks(pem);
  if (blocks.length === 0) return invalid('the trust bundle holds no PEM certificate');
  const roots: X509Certificate[] = [];
  for (const [index, block] of blocks.entries()) {
    try {
      roots.push(new X509Certificate(block));
    } catch {
      return invalid(`certificate ${index + 1} of the trust bundle does not parse`);
    }
  }
  if (current === undefined) {
    return { kind: 'untrusted_self', message: 'the node has no certificate yet to check it with' };
  }
  const own = pemCertificateBlocks(current.certificatePem + current.chainPem).map(
    (block) => new X509Certificate(block),
  );
  const top = own.at(-1);
  if (top === undefined)
    return { kind: 'untrusted_self', message: 'the node holds no certificate' };
  const holdsOwnRoot = roots.some(
    (root) =>
      root.fingerprint256 === top.fingerprint256 ||
      (top.checkIssued(root) && top.verify(root.publicKey)),
  );
  return holdsOwnRoot
    ? undefined
    : {
        kind: 'untrusted_self',
        message: "the trust bundle does not hold the root of the node's own certificate",
      };
}
