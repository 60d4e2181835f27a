/**
 * The identity authority of a control plane with registry: kubernetes:
 *
 * - the CA's root from the Secret controlPlane.kubernetes.caSecret (made
 *   and kept there on the first start, the same for every replica), or the
 *   operator's root from its files;
 * - the trust bundle published in the ConfigMap
 *   controlPlane.kubernetes.trustBundleConfigMap,
 *   which node pods mount to check the control plane before they have a
 *   certificate (trust-bundle-configmap.ts);
 * - first certificates against pod-bound ServiceAccount tokens of the
 *   mesh's own workloads (meshWorkloadIdentities), checked with
 *   TokenReview (audience controlPlane.kubernetes.tokenAudience) instead of
 *   the bootstrap token file, which is neither read nor made here: in a pod
 *   that path is the node's projected token, not a secret to create.
 */
import type { Registry as MetricsRegistry } from 'prom-client';
import type { MeshConfig } from '../../config/index.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import {
  configMapApi,
  kubernetesTokenReview,
  publishTrustBundle,
  secretApi,
  TokenReviewer,
  type KubeClient,
} from '../kubernetes/index.js';
import { meshWorkloadIdentities } from '../node-roles.js';
import { openMeshCaOnKubernetes, type OpenedCa } from './open-ca.js';
import {
  serviceAccountTokenAuthenticator,
  type FirstCertificateAuthenticator,
} from './token-authenticators.js';

type Environment = Readonly<Record<string, string | undefined>>;

export interface KubernetesIdentityOptions {
  readonly config: MeshConfig;
  readonly kube: KubeClient;
  readonly env: Environment;
  readonly metrics: MetricsRegistry;
  readonly log: Logger;
  readonly clock?: Clock;
}

export interface KubernetesIdentity {
  readonly opened: OpenedCa;
  readonly authenticator: FirstCertificateAuthenticator;
}

export async function openKubernetesIdentity(
  options: KubernetesIdentityOptions,
): Promise<KubernetesIdentity> {
  const { config, kube, log } = options;
  const withClock = options.clock === undefined ? {} : { clock: options.clock };
  const opened = await openMeshCaOnKubernetes(config, options.env, {
    api: secretApi(kube),
    namespace: kube.namespace,
    log,
    ...withClock,
  });
  const bundleConfigMap = {
    namespace: kube.namespace,
    name: config.controlPlane.kubernetes.trustBundleConfigMap,
  };
  const published = await publishTrustBundle(
    configMapApi(kube),
    bundleConfigMap,
    opened.ca.trustBundle(),
  );
  log.info(
    { configMap: `${bundleConfigMap.namespace}/${bundleConfigMap.name}`, result: published },
    'trust bundle published',
  );
  const reviewer = new TokenReviewer({
    review: kubernetesTokenReview(kube),
    audience: config.controlPlane.kubernetes.tokenAudience,
    trustDomain: config.controlPlane.trustDomain,
    workloads: meshWorkloadIdentities(config, config.controlPlane.trustDomain),
    metrics: options.metrics,
    ...withClock,
  });
  return { opened, authenticator: serviceAccountTokenAuthenticator(reviewer) };
}
