/**
 * The mesh CA the config names: an operator's root from files
 * (controlPlane.ca.certFile and keyFile), else the root kept in
 * controlPlane.ca.dir (default defaultCaDirectory()), made on first start.
 */
import type { MeshConfig } from '../../config/index.js';
import type { Clock } from '../../shared/clock.js';
import { defaultCaDirectory } from '../../shared/identity/index.js';
import { MeshCa } from '../ca/index.js';

type Environment = Readonly<Record<string, string | undefined>>;

export interface OpenedCa {
  readonly ca: MeshCa;
  /** Where the root is: its directory, or the operator's certificate file. */
  readonly where: string;
  /**
   * The directory of the CA's other state (the revocation list): the CA
   * directory, also beside an operator's root (controlPlane.ca.dir, else the default).
   */
  readonly stateDir: string;
}

export async function openMeshCa(
  config: MeshConfig,
  env: Environment,
  clock?: Clock,
): Promise<OpenedCa> {
  const { trustDomain, ca } = config.controlPlane;
  const withClock = clock === undefined ? {} : { clock };
  if (ca.certFile !== undefined && ca.keyFile !== undefined) {
    return {
      ca: await MeshCa.fromFiles({
        certFile: ca.certFile,
        keyFile: ca.keyFile,
        trustDomain,
        ...withClock,
      }),
      where: ca.certFile,
      stateDir: ca.dir ?? defaultCaDirectory(env),
    };
  }
  const dir = ca.dir ?? defaultCaDirectory(env);
  return {
    ca: await MeshCa.loadOrCreate({ dir, trustDomain, ...withClock }),
    where: dir,
    stateDir: dir,
  };
}
