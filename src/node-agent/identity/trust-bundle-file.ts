/**
 * Where a node finds the roots it checks the control plane's certificate
 * against before it has a certificate of its own (the trust bundle). The
 * bootstrap token it shows beside is read like the admin token
 * (BootstrapCredentials, src/shared/admin).
 *
 * The file may be missing for a while: `streammesh up` starts the control
 * plane and the nodes together, and the control plane writes it on its
 * first start. A missing file is "not yet" (undefined), never an error; the
 * caller retries.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { MeshConfig } from '../../config/index.js';
import { BUNDLE_FILE, defaultCaDirectory } from '../../shared/identity/index.js';

export const TRUST_BUNDLE_VARIABLE = 'STREAMMESH_TRUST_BUNDLE';

type Environment = Readonly<Record<string, string | undefined>>;

/**
 * The trust bundle file: $STREAMMESH_TRUST_BUNDLE, else
 * controlPlane.trustBundleFile, else the operator's root (ca.certFile), else
 * bundle.pem in the CA directory the embedded control plane uses.
 */
export function trustBundleFile(
  controlPlane: MeshConfig['controlPlane'],
  env: Environment = process.env,
): string {
  const variable = env[TRUST_BUNDLE_VARIABLE];
  if (variable !== undefined && variable !== '') return resolve(variable);
  const file = controlPlane.trustBundleFile ?? controlPlane.ca.certFile;
  if (file !== undefined) return resolve(file);
  return resolve(join(controlPlane.ca.dir ?? defaultCaDirectory(env), BUNDLE_FILE));
}

/** The bundle's PEM text; undefined while the file does not exist or holds no certificate. */
export function readTrustBundle(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  // A file being written may be empty for a moment.
  return text.includes('-----BEGIN CERTIFICATE-----') ? text : undefined;
}
