/**
 * How the control plane reaches the Kubernetes API server: in a pod, with
 * its ServiceAccount (the token and CA kubelet mounts, the API server from
 * KUBERNETES_SERVICE_HOST); elsewhere (tests, a control plane run beside a
 * cluster) from controlPlane.kubernetes.kubeconfig or $KUBECONFIG. The
 * namespace is the configured one, else the pod's own, else "default".
 *
 * This is the one place that builds a @kubernetes/client-node KubeConfig;
 * the sources (custom resources, EndpointSlices, Pods), leader election and
 * the identity pieces take the KubeClient and make the typed APIs they need.
 */
import { existsSync, readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import type { KubernetesConfig } from '../../config/index.js';

/** Where kubelet mounts a pod's ServiceAccount (namespace, token, CA). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeClient {
  readonly kubeConfig: KubeConfig;
  /** The control plane's namespace: its Lease, CA Secret and custom resources. */
  readonly namespace: string;
  /** Where the config came from, for logs: "in-cluster" or the kubeconfig's path. */
  readonly source: string;
}

export function kubeClient(
  settings: KubernetesConfig,
  env: NodeJS.ProcessEnv = process.env,
  serviceAccountDir: string = SERVICE_ACCOUNT_DIR,
): KubeClient {
  const kubeConfig = new KubeConfig();
  const file = settings.kubeconfig ?? env['KUBECONFIG'];
  let source: string;
  if (settings.kubeconfig === undefined && env['KUBERNETES_SERVICE_HOST'] !== undefined) {
    kubeConfig.loadFromCluster();
    source = 'in-cluster';
  } else if (file !== undefined && file !== '') {
    kubeConfig.loadFromFile(file);
    source = file;
  } else {
    throw new Error(
      'controlPlane.registry is kubernetes, but there is no API server to reach: not in a pod (KUBERNETES_SERVICE_HOST unset), and neither controlPlane.kubernetes.kubeconfig nor KUBECONFIG is set',
    );
  }
  return { kubeConfig, namespace: namespaceOf(settings, kubeConfig, serviceAccountDir), source };
}

function namespaceOf(
  settings: KubernetesConfig,
  kubeConfig: KubeConfig,
  serviceAccountDir: string,
): string {
  if (settings.namespace !== undefined) return settings.namespace;
  const mounted = `${serviceAccountDir}/namespace`;
  if (existsSync(mounted)) return readFileSync(mounted, 'utf8').trim();
  return kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace ?? 'default';
}
