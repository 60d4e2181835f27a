/**
 * The LeaseApi of leader-election.ts over the API server: one
 * coordination.k8s.io/v1 Lease, read, created and replaced (a replace names
 * the resourceVersion read, so the API server refuses it with 409 when
 * someone wrote the Lease since). 409 on create (AlreadyExists) and on
 * replace (Conflict) both become LeaseConflictError: another candidate won.
 */
import {
  ApiException,
  CoordinationV1Api,
  V1Lease,
  V1LeaseSpec,
  V1MicroTime,
  V1ObjectMeta,
} from '@kubernetes/client-node';
import type { KubeClient } from './kube-client.js';
import {
  LeaseConflictError,
  type LeaseApi,
  type LeaseRecord,
  type ObservedLease,
} from './leader-election.js';

export function kubernetesLeaseApi(kube: KubeClient, name: string): LeaseApi {
  const api = kube.kubeConfig.makeApiClient(CoordinationV1Api);
  const { namespace } = kube;
  const lease = (record: LeaseRecord, resourceVersion?: string): V1Lease => {
    const metadata = new V1ObjectMeta();
    metadata.name = name;
    metadata.namespace = namespace;
    if (resourceVersion !== undefined) metadata.resourceVersion = resourceVersion;
    const spec = new V1LeaseSpec();
    spec.holderIdentity = record.holderIdentity;
    spec.leaseDurationSeconds = record.leaseDurationSeconds;
    spec.acquireTime = new V1MicroTime(record.acquireTime);
    spec.renewTime = new V1MicroTime(record.renewTime);
    spec.leaseTransitions = record.leaseTransitions;
    const body = new V1Lease();
    body.apiVersion = 'coordination.k8s.io/v1';
    body.kind = 'Lease';
    body.metadata = metadata;
    body.spec = spec;
    return body;
  };
  return {
    async get() {
      try {
        return observed(await api.readNamespacedLease({ name, namespace }));
      } catch (error) {
        if (error instanceof ApiException && error.code === 404) return undefined;
        throw error;
      }
    },
    async create(record) {
      return observed(
        await conflictsAsLeaseConflict(() =>
          api.createNamespacedLease({ namespace, body: lease(record) }),
        ),
      );
    },
    async replace(record, resourceVersion) {
      return observed(
        await conflictsAsLeaseConflict(() =>
          api.replaceNamespacedLease({ name, namespace, body: lease(record, resourceVersion) }),
        ),
      );
    },
  };
}

async function conflictsAsLeaseConflict(write: () => Promise<V1Lease>): Promise<V1Lease> {
  try {
    return await write();
  } catch (error) {
    if (error instanceof ApiException && error.code === 409) {
      throw new LeaseConflictError(`the API server answered 409: ${conflictReason(error)}`);
    }
    throw error;
  }
}

function conflictReason(error: ApiException<unknown>): string {
  const { body } = error;
  if (typeof body === 'string') {
    try {
      const status = JSON.parse(body) as { message?: unknown };
      if (typeof status.message === 'string') return status.message;
    } catch {
      // not a Status: fall through
    }
  }
  return error.message.split('\n')[0] ?? 'conflict';
}

/** A Lease as the API server gave it, as the elector reads it (missing fields: a free Lease). */
function observed(lease: V1Lease): ObservedLease {
  const spec = lease.spec;
  // Typed V1MicroTime (a Date), but the client's deserializer leaves MicroTime as the wire's string.
  const time = (value: unknown): number => {
    if (value instanceof Date) return value.getTime();
    if (typeof value === 'string') return Date.parse(value) || 0;
    return 0;
  };
  return {
    resourceVersion: lease.metadata?.resourceVersion ?? '',
    record: {
      holderIdentity: spec?.holderIdentity ?? '',
      leaseDurationSeconds: spec?.leaseDurationSeconds ?? 0,
      acquireTime: time(spec?.acquireTime),
      renewTime: time(spec?.renewTime),
      leaseTransitions: spec?.leaseTransitions ?? 0,
    },
  };
}
