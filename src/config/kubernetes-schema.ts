/**
 * Settings for running on Kubernetes: where the control plane reads the API
 * server, the Lease its replicas elect a leader with, the Secret that keeps
 * the mesh CA's root and the ConfigMap its trust bundle is published in, and how workloads prove who they are (ServiceAccount
 * tokens checked with TokenReview). Used only with
 * controlPlane.registry: kubernetes; the embedded default (file registry)
 * never reads them.
 */
import { z } from 'zod';

/** A Kubernetes object name (RFC 1123 DNS subdomain, as Secrets and Leases take). */
export const kubernetesObjectName = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, {
    message: 'must be a Kubernetes object name: lowercase letters, digits, "-" and "."',
  });

/** A namespace (RFC 1123 DNS label). */
export const kubernetesNamespace = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
  message: 'must be a namespace: a DNS label of lowercase letters, digits and "-"',
});

const leaderElectionSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        'Run as one of several replicas: only the holder of the Lease serves nodes; the others wait, not ready, and take over when it stops renewing.',
      ),
    lease: kubernetesObjectName
      .default('streammesh-control-plane')
      .describe('The coordination.k8s.io/v1 Lease, in the control plane namespace.'),
    leaseDurationSec: z
      .number()
      .int()
      .min(2)
      .max(300)
      .default(10)
      .describe(
        'How long a Lease not renewed stays held: a follower takes over at most this long (plus retryPeriodSec) after the leader stops.',
      ),
    renewDeadlineSec: z
      .number()
      .int()
      .min(1)
      .max(300)
      .default(7)
      .describe(
        'A leader that has not renewed for this long stops leading (and its process exits, so that it never serves beside a new leader).',
      ),
    retryPeriodSec: z
      .number()
      .int()
      .min(1)
      .max(60)
      .default(2)
      .describe('How often the leader renews and a follower tries to take the Lease.'),
  })
  .superRefine((election, ctx) => {
    if (election.renewDeadlineSec >= election.leaseDurationSec) {
      ctx.addIssue({
        code: 'custom',
        path: ['renewDeadlineSec'],
        message:
          'must be shorter than leaseDurationSec (a leader must give up before others may take over)',
      });
    }
    if (election.retryPeriodSec >= election.renewDeadlineSec) {
      ctx.addIssue({
        code: 'custom',
        path: ['retryPeriodSec'],
        message:
          'must be shorter than renewDeadlineSec (a leader must get a renewal in before its deadline)',
      });
    }
  })
  .describe('Leader election among control plane replicas (a Kubernetes Lease).');

export const kubernetesSchema = z
  .strictObject({
    kubeconfig: z
      .string()
      .min(1)
      .max(4096)
      .optional()
      .describe(
        'A kubeconfig file to reach the API server with; default: in-cluster (the pod ServiceAccount), else $KUBECONFIG. Read at start.',
      ),
    namespace: kubernetesNamespace
      .optional()
      .describe(
        'The control plane\'s namespace (its Lease, the CA Secret, the custom resources it watches); default: the pod\'s own (from its ServiceAccount), else "default".',
      ),
    leaderElection: leaderElectionSchema.prefault({}),
    caSecret: kubernetesObjectName
      .default('streammesh-ca')
      .describe(
        "The Secret (type kubernetes.io/tls) keeping the mesh CA's root certificate and key, so every replica signs with the same root; created by the first leader when missing. Replaces ca.dir.",
      ),
    trustBundleConfigMap: kubernetesObjectName
      .default('streammesh-trust-bundle')
      .describe(
        'The ConfigMap the control plane publishes the trust bundle in (key bundle.pem), for node pods to mount; one per release, so that two releases in one namespace do not share it.',
      ),
    tokenAudience: z
      .string()
      .min(1)
      .max(253)
      .default('streammesh')
      .describe(
        'Audience of the projected ServiceAccount tokens workloads show for their first certificate; TokenReview must confirm it.',
      ),
  })
  .describe('Kubernetes: API server, leader election, CA Secret, ServiceAccount tokens.');

export type KubernetesConfig = z.output<typeof kubernetesSchema>;
