/**
 * The mesh CA the config names: an operator's root from files
 * (controlPlane.ca.certFile and keyFile), else the root kept in
 * controlPlane.ca.dir (default defaultCaDirectory()), made on first start;
 * on Kubernetes (openMeshCaOnKubernetes) the root kept in the Secret
 * controlPlane.kubernetes.caSecret instead of ca.dir, and an operator's
 * root still from its files (never copied into the Secret).
 */
import type { MeshConfig } from '../../config/index.js';
import type { Clock } from '../../shared/clock.js';
import { defaultCaDirectory } from '../../shared/identity/index.js';
import type { Logger } from '../../shared/log.js';
import { MeshCa } from '../ca/index.js';
import { caSecretWhere, loadOrCreateCaSecret, type SecretApi } from '../kubernetes/index.js';

type Environment = Readonly<Record<string, string | undefined>>;

export interface OpenedCa {
  readonly ca: MeshCa;
  /** Where the root is: its directory, the operator's certificate file, or its Secret. */
  readonly where: string;
  /**
   * The directory of the CA's other state (the revocation list): the CA
   * directory, also beside an operator's root or a Secret's
   * (controlPlane.ca.dir, else the default).
   */
  readonly stateDir: string;
}

export async function openMeshCa(
  config: MeshConfig,
  env: Environment,
  clock?: Clock,
): Promise<OpenedCa> {
  const operators = await operatorCa(config, env, clock);
  if (operators !== undefined) return operators;
  const { trustDomain, ca } = config.controlPlane;
  const dir = ca.dir ?? defaultCaDirectory(env);
  return {
    ca: await MeshCa.loadOrCreate({ dir, trustDomain, ...(clock === undefined ? {} : { clock }) }),
    where: dir,
    stateDir: dir,
  };
}

export interface KubernetesCaOptions {
  readonly api: SecretApi;
  /** The control plane namespace, where the Secret is. */
  readonly namespace: string;
  readonly log: Logger;
  readonly clock?: Clock;
}

/**
 * The CA of a control plane with registry: kubernetes: the operator's root
 * when ca.certFile and keyFile are set, else the root of the CA Secret
 * (created with a new root when missing). A root from the Secret is not
 * rotated here: its rotation would have to reach every replica, which reads
 * the Secret only at start; POST /ca/rotate is refused (409) and says how.
 */
export async function openMeshCaOnKubernetes(
  config: MeshConfig,
  env: Environment,
  options: KubernetesCaOptions,
): Promise<OpenedCa> {
  const operators = await operatorCa(config, env, options.clock);
  if (operators !== undefined) return operators;
  const { trustDomain, ca, kubernetes } = config.controlPlane;
  const withClock = options.clock === undefined ? {} : { clock: options.clock };
  const where = caSecretWhere(options.namespace, kubernetes.caSecret);
  const root = await loadOrCreateCaSecret({
    api: options.api,
    namespace: options.namespace,
    name: kubernetes.caSecret,
    trustDomain,
    log: options.log,
    ...withClock,
  });
  return {
    ca: await MeshCa.fromPem({
      certificatePem: root.certificatePem,
      keyPem: root.keyPem,
      bundlePem: root.bundlePem,
      trustDomain,
      where,
      notRotatable: `the root kept in ${where} on the kubernetes registry: put a new root in its tls.crt and tls.key, keep the old one in its bundle.pem, and restart the control plane replicas`,
      ...withClock,
    }),
    where,
    stateDir: ca.dir ?? defaultCaDirectory(env),
  };
}

/** The operator's root (ca.certFile and keyFile); undefined when the config names none. */
async function operatorCa(
  config: MeshConfig,
  env: Environment,
  clock: Clock | undefined,
): Promise<OpenedCa | undefined> {
  const { trustDomain, ca } = config.controlPlane;
  if (ca.certFile === undefined || ca.keyFile === undefined) return undefined;
  return {
    ca: await MeshCa.fromFiles({
      certFile: ca.certFile,
      keyFile: ca.keyFile,
      trustDomain,
      ...(clock === undefined ? {} : { clock }),
    }),
    where: ca.certFile,
    stateDir: ca.dir ?? defaultCaDirectory(env),
  };
}
