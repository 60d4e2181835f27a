/**
 * The certificate blocks of a PEM text, in order: one spelling of the split
 * for every part of the mesh that reads bundles, chains and files (the CA's
 * files, the pushed trust bundle, edge tokens' issuers). Text between blocks
 * (comments, other kinds of block) is left out; each block is still to be
 * parsed by whoever needs the certificate, which refuses a damaged one.
 */
const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

export function pemCertificateBlocks(text: string): string[] {
  return text.match(CERTIFICATE_BLOCK) ?? [];
}
