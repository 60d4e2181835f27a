/**
 * A node's workload identity as its start-up config says: the trust domain
 * and the control plane's address from controlPlane, the SPIFFE ID's
 * namespace and service account from the role's `identity` section, the
 * trust bundle from where trust-bundle-file.ts finds it, the bootstrap token
 * from STREAMMESH_BOOTSTRAP_TOKEN or controlPlane.bootstrapTokenFile (read
 * again at each first request: on Kubernetes it is the pod's projected
 * ServiceAccount token, which kubelet rotates).
 */
import type { Registry } from 'prom-client';
import type { MeshConfig } from '../../config/index.js';
import type { Logger } from '../../shared/log.js';
import { BootstrapCredentials } from '../../shared/admin/index.js';
import { readTrustBundle, trustBundleFile } from './trust-bundle-file.js';
import { grpcCertificateIssuer } from './certificate-issuer.js';
import { WorkloadIdentity } from './workload-identity.js';

type Environment = Readonly<Record<string, string | undefined>>;

export interface NodeIdentityOptions {
  readonly controlPlane: MeshConfig['controlPlane'];
  /** The role's `identity` section (proxy.identity, signaling.identity). */
  readonly identity: { readonly namespace: string; readonly serviceAccount: string };
  readonly nodeId: string;
  readonly log: Logger;
  readonly metrics?: Registry;
  readonly env?: Environment;
}

export function workloadIdentityFromConfig(options: NodeIdentityOptions): WorkloadIdentity {
  const { controlPlane, identity } = options;
  const env = options.env ?? process.env;
  const bundleFile = trustBundleFile(controlPlane, env);
  const bootstrapToken = BootstrapCredentials.reader({
    file: controlPlane.bootstrapTokenFile,
    env,
  });
  return new WorkloadIdentity({
    trustDomain: controlPlane.trustDomain,
    namespace: identity.namespace,
    serviceAccount: identity.serviceAccount,
    nodeId: options.nodeId,
    issuer: grpcCertificateIssuer(
      controlPlane.address ?? controlPlane.grpc,
      controlPlane.trustDomain,
    ),
    trustBundle: { describe: () => bundleFile, read: () => readTrustBundle(bundleFile) },
    bootstrapToken: {
      describe: () => bootstrapToken.describe(),
      // Read again at each first request: on Kubernetes the file is a projected
      // ServiceAccount token that kubelet replaces before it expires.
      token: () => bootstrapToken.freshToken(),
    },
    log: options.log,
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
  });
}
