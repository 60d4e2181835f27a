/**
 * The mesh CA the config names: an operator's root from files
 * (controlPlane.ca.certFile and keyFile), else the root kept in
 * controlPlane.ca.dir (default defaultCaDirectory()), made on first start;
 * on Kubernetes (openMeshCaOnKubernetes) the root kept in the Secret
 * controlPlane.kubernetes.caSecret instead of ca.dir, and an operator's
 * root still from its files (never copied into the Secret). On Kubernetes
 * the opened CA also says why revocations cannot be made there
 * (revocationsNotShared): the list would be one replica's only.
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
  /**
   * Set when a revocation list kept in stateDir would be this replica's
   * only (the kubernetes registry): why, and what to do instead. For
   * RevocationsOptions.notShared.
   */
  readonly revocationsNotShared?: string;
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
  if (operators !== undefined) {
    return {
      ...operators,
      revocationsNotShared: revocationsNotShared(
        operators.stateDir,
        `replace the root files (${operators.where}) on every replica with a new root`,
        config,
      ),
    };
  }
  const { trustDomain, ca, kubernetes } = config.controlPlane;
  const withClock = options.clock === undefined ? {} : { clock: options.clock };
  const where = caSecretWhere(options.namespace, kubernetes.caSecret);
  const stateDir = ca.dir ?? defaultCaDirectory(env);
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
    stateDir,
    revocationsNotShared: revocationsNotShared(
      stateDir,
      `put a new root in ${where} (tls.crt, tls.key and bundle.pem without the old root)`,
      config,
    ),
  };
}

/**
 * Why a revocation cannot be made on the kubernetes registry, and what to
 * do instead. The list would live in one replica's state directory (an
 * emptyDir in the chart): after a failover the next leader, which never
 * saw it, would accept the certificate again until it expired.
 */
function revocationsNotShared(stateDir: string, newRoot: string, config: MeshConfig): string {
  const lifetime = config.controlPlane.ca.leafLifetimeSec;
  return (
    `revocations are not shared between control plane replicas on the kubernetes registry ` +
    `(each would keep its list in its own ${stateDir}), so another replica would accept the certificate ` +
    `after a failover. Instead, to cut off every certificate of the mesh, rotate the CA: ${newRoot}, ` +
    `and restart the control plane replicas; or shorten controlPlane.ca.leafLifetimeSec ` +
    `(now ${lifetime} s) so that a stolen certificate expires sooner`
  );
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
