/**
 * The mesh CA's root on Kubernetes: kept in a Secret of the control plane
 * namespace (controlPlane.kubernetes.caSecret, type kubernetes.io/tls), so
 * that every replica signs with the same root and a restarted pod, whose
 * file system is gone, keeps it. What ca.dir holds on a machine, the Secret
 * holds here: `tls.crt` (the issuing root), `tls.key` (its PKCS#8 key) and
 * `bundle.pem` (every root trusted).
 *
 * On start: read it; when there is none, make a root and create the Secret;
 * when the create answers 409 AlreadyExists, another replica won that race,
 * and its Secret is read and used, so replicas never sign with two roots.
 *
 * The key is a secret: it is never logged, and no error quotes it (the
 * Secret's name and the missing key's name only).
 */
import { ApiException, CoreV1Api, V1ObjectMeta, V1Secret } from '@kubernetes/client-node';
import { systemClock, type Clock } from '../../shared/clock.js';
import { errorMessage, StreammeshError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { MeshCa, type NewRoot } from '../ca/index.js';
import type { KubeClient } from './kube-client.js';

export const CA_CERTIFICATE_KEY = 'tls.crt';
export const CA_KEY_KEY = 'tls.key';
export const CA_BUNDLE_KEY = 'bundle.pem';

/** A Secret as read here: its data (base64 values, as the API sends them). */
export interface SecretData {
  readonly data?: Readonly<Record<string, string>>;
}

/** The Secret calls this code makes (CoreV1Api has them), apart so the race is unit-tested. */
export interface SecretApi {
  readNamespacedSecret(request: { name: string; namespace: string }): Promise<SecretData>;
  createNamespacedSecret(request: { namespace: string; body: V1Secret }): Promise<unknown>;
}

/** The root as the Secret keeps it (PEM texts). */
export interface KeptRoot {
  readonly certificatePem: string;
  readonly keyPem: string;
  /** Every root trusted; the issuer alone when the Secret has no bundle.pem. */
  readonly bundlePem: string;
}

export interface CaSecretOptions {
  readonly api: SecretApi;
  readonly namespace: string;
  readonly name: string;
  readonly trustDomain: string;
  readonly log: Logger;
  readonly clock?: Clock;
}

/** The Secret cannot be read, created or used; the message names it, never its content. */
export class CaSecretError extends StreammeshError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_CA_SECRET', message, options);
  }
}

/** "Secret <namespace>/<name>", for messages. */
export function caSecretWhere(namespace: string, name: string): string {
  return `Secret ${namespace}/${name}`;
}

/**
 * The root the Secret keeps, the Secret created with a new root when
 * missing. `created` says whether this call made it.
 */
export async function loadOrCreateCaSecret(
  options: CaSecretOptions,
): Promise<KeptRoot & { readonly created: boolean }> {
  const { api, namespace, name, log } = options;
  const where = caSecretWhere(namespace, name);
  const existing = await readSecret(api, namespace, name);
  if (existing !== undefined) return { ...rootOfSecret(existing, where), created: false };
  const root = await MeshCa.newRoot(options.trustDomain, options.clock ?? systemClock);
  try {
    await api.createNamespacedSecret({ namespace, body: secretOfRoot(name, root) });
  } catch (error) {
    if (statusOf(error) !== 409) throw apiError(error, `could not create ${where}`);
    // Another replica created it first: its root is the mesh's.
    log.info({ secret: where }, 'CA Secret created by another replica meanwhile; using its root');
    const theirs = await readSecret(api, namespace, name);
    if (theirs === undefined) {
      throw new CaSecretError(`${where} was reported created, then could not be found`);
    }
    return { ...rootOfSecret(theirs, where), created: false };
  }
  log.info({ secret: where }, 'CA root made and kept in a new Secret');
  return { ...root, bundlePem: root.certificatePem, created: true };
}

/** The Secret that keeps a new root (its bundle: the root alone). */
export function secretOfRoot(name: string, root: NewRoot): V1Secret {
  const base64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
  // The client's models are classes (its serializer reads them by attribute map).
  return Object.assign(new V1Secret(), {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: Object.assign(new V1ObjectMeta(), {
      name,
      labels: {
        'app.kubernetes.io/managed-by': 'streammesh',
        'app.kubernetes.io/component': 'mesh-ca',
      },
    }),
    data: {
      [CA_CERTIFICATE_KEY]: base64(root.certificatePem),
      [CA_KEY_KEY]: base64(root.keyPem),
      [CA_BUNDLE_KEY]: base64(root.certificatePem),
    },
  });
}

/**
 * The root a Secret keeps; throws CaSecretError naming the key missing.
 * Whether the certificate and key make a CA root is MeshCa.fromPem's check.
 */
export function rootOfSecret(secret: SecretData, where: string): KeptRoot {
  const text = (key: string): string | undefined => {
    const value = secret.data?.[key];
    return value === undefined || value === ''
      ? undefined
      : Buffer.from(value, 'base64').toString('utf8');
  };
  const certificatePem = text(CA_CERTIFICATE_KEY);
  const keyPem = text(CA_KEY_KEY);
  for (const [key, value] of [
    [CA_CERTIFICATE_KEY, certificatePem],
    [CA_KEY_KEY, keyPem],
  ] as const) {
    if (value === undefined) {
      throw new CaSecretError(
        `${where} has no ${key}: it must hold the CA root's certificate (${CA_CERTIFICATE_KEY}) and key (${CA_KEY_KEY}); delete it to have a new root made`,
      );
    }
  }
  return {
    certificatePem: certificatePem ?? '',
    keyPem: keyPem ?? '',
    bundlePem: text(CA_BUNDLE_KEY) ?? certificatePem ?? '',
  };
}

async function readSecret(
  api: SecretApi,
  namespace: string,
  name: string,
): Promise<SecretData | undefined> {
  try {
    return await api.readNamespacedSecret({ name, namespace });
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw apiError(error, `could not read ${caSecretWhere(namespace, name)}`);
  }
}

/** The HTTP status of an API server's answer; undefined when none came (unreachable). */
export function statusOf(error: unknown): number | undefined {
  return error instanceof ApiException ? (error as ApiException<unknown>).code : undefined;
}

/**
 * The API's failure with what was being done: its HTTP status, or the
 * client's words when no answer came. Not the error itself (no `cause`):
 * an answer to a create may echo what was sent, and that holds the key.
 */
function apiError(error: unknown, doing: string): CaSecretError {
  const status = statusOf(error);
  const detail =
    status === undefined
      ? errorMessage(error)
      : `HTTP ${status}${status === 403 ? ' (the control plane ServiceAccount may not: see the chart Role)' : ''}`;
  return new CaSecretError(`${doing}: ${detail}`);
}

/** The Secret calls of a KubeClient. */
export function secretApi(kube: KubeClient): SecretApi {
  return kube.kubeConfig.makeApiClient(CoreV1Api);
}
