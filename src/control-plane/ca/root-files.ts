/**
 * Where the mesh CA's roots live on disk, kept the way the admin token file
 * is (src/shared/admin/credentials.ts): the directory is created 0700, a file
 * holding a private key is written 0600 and refused when others may read or
 * write it, and a file appears whole or not at all.
 *
 * In the CA directory:
 * - `root.pem`: the issuing root, its certificate then its PKCS#8 key, in one
 *   file so that a rotation replaces both with one rename;
 * - `bundle.pem`: every root trusted now (the issuer and, during a rotation's
 *   overlap, the roots before it), certificates only.
 */
import { createPrivateKey, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import {
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { PemConverter, X509Certificate } from '@peculiar/x509';
import { pemCertificateBlocks, WORKLOAD_KEY_ALGORITHM } from '../../shared/identity/index.js';
import { CaError } from './errors.js';

export const ROOT_FILE = 'root.pem';

export interface Root {
  readonly certificate: X509Certificate;
  readonly privateKey: webcrypto.CryptoKey;
}

/** A file's text, undefined when it does not exist; refuses a key file others may read. */
export function readPrivateFile(file: string): string | undefined {
  try {
    const mode = statSync(file).mode;
    if ((mode & 0o077) !== 0) {
      throw new CaError(
        'ERR_CA_KEY_FILE_MODE',
        `${file}: others may read or write the CA's private key (mode ${(mode & 0o777).toString(8)}); make it 0600`,
      );
    }
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export function readOptionalFile(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The certificates of a PEM text, in order. */
export function certificatesOf(pem: string, file: string): X509Certificate[] {
  const blocks = pemCertificateBlocks(pem);
  return blocks.map((block) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new CaError('ERR_CA_FILE', `${file}: a certificate in it cannot be read`, {
        cause: error,
      });
    }
  });
}

/**
 * A root from its certificate and key (PKCS#8 or SEC1 PEM): the key must be
 * P-256 and belong to the certificate, and the certificate must be a CA's.
 */
export async function rootOf(certificatePem: string, keyPem: string, where: string): Promise<Root> {
  const [certificate] = certificatesOf(certificatePem, where);
  if (certificate === undefined) throw new CaError('ERR_CA_FILE', `${where}: no certificate in it`);
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    throw new CaError('ERR_CA_FILE', `${where}: no readable private key in it`, error);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new CaError('ERR_CA_FILE', `${where}: the CA key must be ECDSA P-256`);
  }
  const publicDer = createPublicKey(key).export({ type: 'spki', format: 'der' });
  if (!publicDer.equals(Buffer.from(certificate.publicKey.rawData))) {
    throw new CaError(
      'ERR_CA_FILE',
      `${where}: the private key does not belong to the certificate`,
    );
  }
  const constraints = certificate.getExtension('2.5.29.19') as { ca?: boolean } | null;
  if (constraints?.ca !== true) {
    throw new CaError(
      'ERR_CA_FILE',
      `${where}: the certificate is not a CA's (basicConstraints CA:true)`,
    );
  }
  const privateKey = await webcrypto.subtle.importKey(
    'pkcs8',
    key.export({ type: 'pkcs8', format: 'der' }),
    WORKLOAD_KEY_ALGORITHM,
    false,
    ['sign'],
  );
  return { certificate, privateKey };
}

/** The text of root.pem for a new root (its key must be extractable). */
export async function rootFileText(
  certificate: X509Certificate,
  privateKey: webcrypto.CryptoKey,
): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', privateKey);
  return `${certificate.toString('pem')}\n${PemConverter.encode(der, 'PRIVATE KEY')}\n`;
}

export function ensureDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

function temporaryName(file: string): string {
  return join(dirname(file), `.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Creates a file that must not exist yet: when two control planes start at
 * once on one directory, the first link wins; returns false to the other,
 * which then reads the winner's file.
 */
export function createFile(file: string, text: string, mode: number): boolean {
  const temporary = temporaryName(file);
  writeFileSync(temporary, text, { mode, flag: 'wx' });
  try {
    linkSync(temporary, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return false;
  } finally {
    unlinkSync(temporary);
  }
}

/** Replaces a file whole: readers see the old text or the new one. */
export function replaceFile(file: string, text: string, mode: number): void {
  const temporary = temporaryName(file);
  writeFileSync(temporary, text, { mode, flag: 'wx' });
  try {
    renameSync(temporary, file);
  } catch (error) {
    unlinkSync(temporary);
    throw error;
  }
}
