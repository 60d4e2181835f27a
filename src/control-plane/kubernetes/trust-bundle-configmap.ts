/**
 * The trust bundle (every root the mesh CA trusts now, PEM) published as a
 * ConfigMap of the control plane namespace, named by
 * controlPlane.kubernetes.trustBundleConfigMap (one per release: two releases
 * in a namespace must not overwrite each other's), with key `bundle.pem`. The chart mounts it into node pods
 * (controlPlane.trustBundleFile): a node checks the control plane's
 * certificate with it before it has a certificate of its own, the way a node
 * on the control plane's machine reads bundle.pem from ca.dir.
 *
 * Written when it differs from the bundle (created when missing): replicas
 * with the same root write nothing after the first. An update names the
 * resourceVersion it read, so two writers never overwrite each other
 * blindly; a conflict (409) reads again and retries, a bounded number of
 * times. Certificates only: nothing secret goes here.
 */
import { CoreV1Api, V1ConfigMap, V1ObjectMeta } from '@kubernetes/client-node';
import { errorMessage, StreammeshError } from '../../shared/errors.js';
import type { KubeClient } from './kube-client.js';
import { statusOf } from './ca-secret.js';

/** The ConfigMap's name when the settings name none (the schema's default). */
export const TRUST_BUNDLE_CONFIGMAP = 'streammesh-trust-bundle';
export const TRUST_BUNDLE_KEY = 'bundle.pem';

/** Reads and writes one after another lose to another writer at most this often. */
const MAX_ATTEMPTS = 5;

export type ConfigMapApi = Pick<
  CoreV1Api,
  'readNamespacedConfigMap' | 'createNamespacedConfigMap' | 'replaceNamespacedConfigMap'
>;

export class TrustBundleConfigMapError extends StreammeshError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_TRUST_BUNDLE_CONFIGMAP', message, options);
  }
}

/** Where the bundle is published: the ConfigMap's namespace and name. */
export interface TrustBundleConfigMapRef {
  readonly namespace: string;
  readonly name: string;
}

/**
 * Makes the ConfigMap hold `bundlePem`. Resolves with what was done:
 * 'created', 'updated', or 'unchanged' (it held that bundle already).
 */
export async function publishTrustBundle(
  api: ConfigMapApi,
  ref: TrustBundleConfigMapRef,
  bundlePem: string,
): Promise<'created' | 'updated' | 'unchanged'> {
  const { namespace, name } = ref;
  const where = `ConfigMap ${namespace}/${name}`;
  const fail = (doing: string, error: unknown): TrustBundleConfigMapError => {
    const status = statusOf(error);
    return new TrustBundleConfigMapError(
      `could not ${doing} ${where}: ${status === undefined ? errorMessage(error) : `HTTP ${status}`}`,
      { cause: error },
    );
  };
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
    let current: V1ConfigMap | undefined;
    try {
      current = await api.readNamespacedConfigMap({ name, namespace });
    } catch (error) {
      if (statusOf(error) !== 404) throw fail('read', error);
    }
    try {
      if (current === undefined) {
        await api.createNamespacedConfigMap({ namespace, body: configMapOf(name, bundlePem) });
        return 'created';
      }
      if (current.data?.[TRUST_BUNDLE_KEY] === bundlePem) return 'unchanged';
      await api.replaceNamespacedConfigMap({
        name,
        namespace,
        body: configMapOf(name, bundlePem, current.metadata?.resourceVersion),
      });
      return 'updated';
    } catch (error) {
      // 409: another writer came between our read and write; read again.
      if (statusOf(error) !== 409) throw fail(current === undefined ? 'create' : 'update', error);
    }
  }
  throw new TrustBundleConfigMapError(
    `could not write ${where}: ${MAX_ATTEMPTS} attempts each lost to another writer`,
  );
}

/** The ConfigMap holding the bundle; a replace names the resourceVersion it read. */
function configMapOf(name: string, bundlePem: string, resourceVersion?: string): V1ConfigMap {
  // The client's models are classes (its serializer reads them by attribute map).
  return Object.assign(new V1ConfigMap(), {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: Object.assign(new V1ObjectMeta(), {
      name,
      labels: {
        'app.kubernetes.io/managed-by': 'streammesh',
        'app.kubernetes.io/component': 'trust-bundle',
      },
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
    }),
    data: { [TRUST_BUNDLE_KEY]: bundlePem },
  });
}

/** The ConfigMap calls of a KubeClient. */
export function configMapApi(kube: KubeClient): ConfigMapApi {
  return kube.kubeConfig.makeApiClient(CoreV1Api);
}
