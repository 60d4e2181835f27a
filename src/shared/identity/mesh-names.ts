/**
 * Names the control plane and its nodes must agree on without talking: where
 * the embedded mesh CA keeps its trust bundle on this machine (a node reads
 * it to check the control plane before it has a certificate of its own), and
 * the SPIFFE ID the control plane's own certificate names (a node accepts no
 * other server on its control channel).
 *
 * Here, not in the control plane's CA module, because nodes may not import
 * the control plane (eslint/import-layers.js).
 */
import { join } from 'node:path';
import { stateDirectory } from '../state-directory.js';
import { spiffeId } from './spiffe-id.js';

type Environment = Readonly<Record<string, string | undefined>>;

/** In the CA directory: every root trusted now, certificates only. */
export const BUNDLE_FILE = 'bundle.pem';

/** $XDG_STATE_HOME/streammesh/ca, else ~/.local/state/streammesh/ca. */
export function defaultCaDirectory(env: Environment = process.env): string {
  return join(stateDirectory(env), 'ca');
}

export const CONTROL_PLANE_NAMESPACE = 'streammesh';
export const CONTROL_PLANE_SERVICE_ACCOUNT = 'control-plane';

/** spiffe://<trustDomain>/ns/streammesh/sa/control-plane. */
export function controlPlaneSpiffeId(trustDomain: string): string {
  return spiffeId({
    trustDomain,
    namespace: CONTROL_PLANE_NAMESPACE,
    serviceAccount: CONTROL_PLANE_SERVICE_ACCOUNT,
  });
}
