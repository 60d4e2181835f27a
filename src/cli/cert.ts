/**
 * `streammesh cert operator --out DIR` (and `streammesh cert revoke SERIAL`,
 * cert-revoke.ts): an operator certificate from the
 * mesh CA (POST /certificates on the control plane's admin, with the admin
 * token). The key is made here and never leaves this machine: only its CSR
 * goes to the control plane. Writes, in DIR (created 0700):
 *
 *   operator-key.pem   the private key (PKCS#8, mode 0600)
 *   operator.pem       the certificate and its chain
 *   bundle.pem         the mesh's trust bundle, to check the control plane
 *
 * With them an operator's tool calls the control plane's mutual-TLS admin
 * listener (controlPlane.adminMtls), where the certificate stands for the
 * admin token on writes (PUT /config, POST /nodes/<id>/drain, ...). Prints
 * the SPIFFE ID and the expiry, one line.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { MeshConfig } from '../config/index.js';
import {
  createCsr,
  generateWorkloadKey,
  privateKeyPem,
  spiffeId,
} from '../shared/identity/index.js';
import {
  CommandUsageError,
  postAdmin,
  runAdminCommand,
  unexpectedAnswer,
} from './control-plane-admin.js';
import { revokeCertificate } from './cert-revoke.js';

export const OPERATOR_KEY_FILE = 'operator-key.pem';
export const OPERATOR_CERT_FILE = 'operator.pem';
export const OPERATOR_BUNDLE_FILE = 'bundle.pem';

export interface CertOptions {
  readonly kind: string | undefined;
  /** The positional after `revoke`. */
  readonly serial?: string | undefined;
  readonly out: string | undefined;
  /** The operator's service account in namespace streammesh; default "operator". */
  readonly name: string | undefined;
}

export async function runCert(
  options: CertOptions,
  configFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  return runAdminCommand('cert', configFile, env, (config) =>
    options.kind === 'revoke'
      ? revokeCertificate(options.serial, config, env)
      : certify(options, config, env),
  );
}

/** Gets and writes the certificate; returns the line to print. */
async function certify(
  options: CertOptions,
  config: MeshConfig,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  if (options.kind !== 'operator') {
    throw new CommandUsageError(
      'usage: streammesh cert operator --out DIR [--name operator] | streammesh cert revoke SERIAL',
    );
  }
  if (options.out === undefined || options.out === '') {
    throw new CommandUsageError('give the directory to write the certificate to: --out DIR');
  }
  const id = spiffeId({
    trustDomain: config.controlPlane.trustDomain,
    namespace: 'streammesh',
    serviceAccount: options.name ?? 'operator',
  });
  const keys = await generateWorkloadKey();
  const answer = await postAdmin(config, env, '/certificates', {
    csrPem: await createCsr(keys, id),
  });
  const certificate = answer.body?.['certificatePem'];
  const chain = answer.body?.['chainPem'];
  const bundle = answer.body?.['trustBundlePem'];
  const notAfterMs = answer.body?.['notAfterMs'];
  if (answer.status === 403) {
    throw new CommandUsageError(
      `${id} is not an operator identity of this control plane (controlPlane.operators)`,
    );
  }
  if (
    answer.status !== 200 ||
    typeof certificate !== 'string' ||
    typeof chain !== 'string' ||
    typeof bundle !== 'string' ||
    typeof notAfterMs !== 'number'
  ) {
    throw unexpectedAnswer(answer);
  }
  const dir = resolve(options.out);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writePrivate(join(dir, OPERATOR_KEY_FILE), privateKeyPem(keys));
  writeFileSync(join(dir, OPERATOR_CERT_FILE), certificate + chain, { mode: 0o644 });
  writeFileSync(join(dir, OPERATOR_BUNDLE_FILE), bundle, { mode: 0o644 });
  return `${id} until ${new Date(notAfterMs).toISOString()}: ${join(dir, OPERATOR_CERT_FILE)}\n`;
}

/**
 * A file only its owner reads: written to a new file created 0600 (never
 * through a link, never into an old file with a looser mode), then renamed
 * over `path`.
 */
function writePrivate(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temporary, text, { mode: 0o600, flag: 'wx' });
  renameSync(temporary, path);
}
