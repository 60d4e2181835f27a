/**
 * The trust bundle's ConfigMap is the one the settings name
 * (controlPlane.kubernetes.trustBundleConfigMap), so two releases in one
 * namespace each publish their own bundle rather than overwriting one
 * another's; the name defaults to streammesh-trust-bundle and is checked as
 * a Kubernetes object name, like caSecret.
 *
 * The API is an in-memory stand-in keyed by namespace and name;
 * test/integration/kubernetes/identity.test.ts publishes to a real API
 * server.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiException, type V1ConfigMap } from '@kubernetes/client-node';
import { kubernetesSchema } from '../../../../src/config/kubernetes-schema.js';
import {
  publishTrustBundle,
  TRUST_BUNDLE_CONFIGMAP,
  TRUST_BUNDLE_KEY,
  type ConfigMapApi,
} from '../../../../src/control-plane/kubernetes/trust-bundle-configmap.js';

const NAMESPACE = 'streammesh';

/** ConfigMaps kept by `namespace/name`, as the API server would. */
function inMemory(): ConfigMapApi & { readonly maps: Map<string, V1ConfigMap> } {
  const maps = new Map<string, V1ConfigMap>();
  const missing = (): Promise<never> =>
    Promise.reject(new ApiException(404, 'HTTP 404', '{"kind":"Status"}', {}));
  return {
    maps,
    readNamespacedConfigMap: ({ name, namespace }) => {
      const found = maps.get(`${namespace}/${name}`);
      return found === undefined ? missing() : Promise.resolve(found);
    },
    createNamespacedConfigMap: ({ namespace, body }) => {
      maps.set(`${namespace}/${body.metadata?.name ?? ''}`, body);
      return Promise.resolve(body);
    },
    replaceNamespacedConfigMap: ({ name, namespace, body }) => {
      if (!maps.has(`${namespace}/${name}`)) return missing();
      maps.set(`${namespace}/${name}`, body);
      return Promise.resolve(body);
    },
  };
}

describe('the trust bundle ConfigMap', () => {
  it('is written under the name asked, so two releases in a namespace keep their own', async () => {
    const api = inMemory();
    const first = { namespace: NAMESPACE, name: 'first-trust-bundle' };
    const second = { namespace: NAMESPACE, name: 'second-trust-bundle' };
    assert.equal(await publishTrustBundle(api, first, 'FIRST'), 'created');
    assert.equal(await publishTrustBundle(api, second, 'SECOND'), 'created');
    assert.equal(await publishTrustBundle(api, first, 'FIRST'), 'unchanged');
    assert.deepEqual([...api.maps.keys()].sort(), [
      `${NAMESPACE}/first-trust-bundle`,
      `${NAMESPACE}/second-trust-bundle`,
    ]);
    const data = (name: string): string | undefined =>
      api.maps.get(`${NAMESPACE}/${name}`)?.data?.[TRUST_BUNDLE_KEY];
    assert.equal(data('first-trust-bundle'), 'FIRST');
    assert.equal(data('second-trust-bundle'), 'SECOND');
    assert.equal(api.maps.get(`${NAMESPACE}/second-trust-bundle`)?.metadata?.name, second.name);

    assert.equal(await publishTrustBundle(api, second, 'SECOND, ROTATED'), 'updated');
    assert.equal(data('first-trust-bundle'), 'FIRST');
    assert.equal(data('second-trust-bundle'), 'SECOND, ROTATED');
  });

  it('is named by trustBundleConfigMap, streammesh-trust-bundle by default, checked as an object name', () => {
    assert.equal(kubernetesSchema.parse({}).trustBundleConfigMap, TRUST_BUNDLE_CONFIGMAP);
    assert.equal(
      kubernetesSchema.parse({ trustBundleConfigMap: 'cams-trust-bundle' }).trustBundleConfigMap,
      'cams-trust-bundle',
    );
    for (const bad of ['Trust_Bundle', '-bundle', '', 'a'.repeat(254)]) {
      const parsed = kubernetesSchema.safeParse({ trustBundleConfigMap: bad });
      assert.equal(parsed.success, false, bad);
      assert.deepEqual(parsed.error.issues[0]?.path, ['trustBundleConfigMap'], bad);
    }
  });
});
