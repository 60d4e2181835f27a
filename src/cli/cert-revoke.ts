/**
 * `streammesh cert revoke SERIAL`: revokes a certificate of the mesh CA
 * (POST /certificates/<serial>/revoke on the control plane's admin, with
 * the admin token). Every mTLS port of the mesh refuses it from then on;
 * a node holding it is cut off until it bootstraps again. The serial is hex,
 * with or without colons, as `openssl x509 -noout -serial` or GET /ca
 * (nodes[].certificate.serialNumber) prints it. Prints one line: the serial,
 * whose certificate it was (when the control plane issued it) and until when
 * it stays on the list.
 */
import type { MeshConfig } from '../config/index.js';
import { CommandUsageError, postAdmin, unexpectedAnswer } from './control-plane-admin.js';

export async function revokeCertificate(
  serial: string | undefined,
  config: MeshConfig,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  if (serial === undefined || serial === '') {
    throw new CommandUsageError('usage: streammesh cert revoke SERIAL');
  }
  const answer = await postAdmin(
    config,
    env,
    `/certificates/${encodeURIComponent(serial)}/revoke`,
    {},
  );
  if (answer.status === 404) {
    throw new CommandUsageError(
      'this control plane has no CA (controlPlane.mtls off): there is nothing to revoke',
    );
  }
  const revoked = answer.body?.['serial'];
  const until = answer.body?.['until'];
  const owner = answer.body?.['spiffeId'];
  if (answer.status !== 200 || typeof revoked !== 'string' || typeof until !== 'string') {
    throw unexpectedAnswer(answer);
  }
  const whose =
    typeof owner === 'string'
      ? ` (${owner})`
      : ' (not issued by this control plane since its start)';
  return `revoked ${revoked}${whose}, listed until ${until}\n`;
}
