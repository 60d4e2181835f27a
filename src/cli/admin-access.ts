/**
 * Before a role starts: its admin token, and whether its admin listener may
 * bind where the config says. A refusal is a config problem (exit 2, nothing
 * started, `up` does not restart it), printed with the setting to change.
 */
import type { MeshConfig } from '../config/index.js';
import {
  AdminBindRefusedError,
  AdminCredentials,
  AdminTokenError,
  isLoopbackHost,
} from '../shared/admin/index.js';
import { validHostPort } from '../shared/address.js';

/** The config section of each role that has an admin listener. */
export type AdminSection = 'controlPlane' | 'proxy' | 'signaling';

/**
 * The role's admin credentials: the control plane creates the token file if
 * missing; nodes read it (or STREAMMESH_ADMIN_TOKEN). Throws AdminTokenError
 * or AdminBindRefusedError.
 */
export function adminCredentialsFor(
  section: AdminSection,
  config: MeshConfig,
  env: NodeJS.ProcessEnv = process.env,
): AdminCredentials {
  const source = { file: config.controlPlane.adminTokenFile, env };
  const credentials =
    section === 'controlPlane' ? AdminCredentials.ensure(source) : AdminCredentials.reader(source);
  const setting = `${section}.admin`;
  const listen = validHostPort(config[section].admin);
  if (!isLoopbackHost(listen.host) && !credentials.available()) {
    throw new AdminBindRefusedError(setting, listen);
  }
  return credentials;
}

/** Prints an admin access refusal and returns exit code 2; rethrows anything else. */
export function exitOnAdminAccessError(error: unknown): number {
  if (!(error instanceof AdminTokenError || error instanceof AdminBindRefusedError)) throw error;
  process.stderr.write(`${error.message}\n`);
  return 2;
}
