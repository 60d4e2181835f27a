/**
 * What the Kubernetes integration tests' in-process control planes share:
 * the kubernetes registry against the test API server, without leader
 * election (one replica) or mTLS (their subject is another), on a fixed
 * gRPC port the proxy dials, heartbeats fast enough for a test.
 */
export function kubernetesControlPlane(options: {
  readonly kubeconfig: string;
  readonly namespace: string;
  readonly grpcPort: number;
}): Record<string, unknown> {
  return {
    admin: '127.0.0.1:0',
    grpc: `127.0.0.1:${options.grpcPort}`,
    heartbeatIntervalMs: 200,
    mtls: false,
    registry: 'kubernetes',
    kubernetes: {
      kubeconfig: options.kubeconfig,
      namespace: options.namespace,
      leaderElection: { enabled: false },
    },
  };
}

/** The trust bundle (bundle.pem) the control plane published in its ConfigMap, as kubelet mounts it. */
export async function publishedTrustBundle(
  kubectl: (args: readonly string[]) => Promise<string>,
  configMap: string,
  namespace: string,
): Promise<string> {
  return kubectl([
    'get',
    'configmap',
    configMap,
    '-n',
    namespace,
    '-o',
    'jsonpath={.data.bundle\\.pem}',
  ]);
}
