/**
 * What the discovery tests share: a control plane in this process with
 * controlPlane.registry: kubernetes against the test API server (its admin
 * kubeconfig, leader election off, mtls off, ports 0 but the gRPC one,
 * picked so the node can be told it), and a real rtp-proxy node of the given
 * id, both stopped by close(). The proxy's `http` section is the test's.
 */
import { validateConfig, type MeshConfig } from '../../../src/config/index.js';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/index.js';
import { httpUrl } from '../../../src/shared/address.js';
import { AdminCredentials } from '../../../src/shared/admin/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { startProxy, type RunningProxy } from '../../../rtp-proxy/index.js';
import { newAdminToken } from '../../helpers/admin-token.js';
import { getJson, getText, putText } from '../../helpers/http.js';
import { freePort } from '../../helpers/ports.js';
import { kubernetesControlPlane } from '../../helpers/kube/control-plane-config.js';

/** A node as GET /nodes shows it, the fields these tests read. */
export interface NodeView {
  readonly id: string;
  readonly state: string;
  readonly ackedVersion: string;
  readonly lastSeen: string;
  readonly lastNack?: { version: string; reason: string };
  readonly pod: {
    name: string;
    uid: string;
    nodeName: string | null;
    podIP: string | null;
    terminatingSince: string | null;
    deletedAt: string | null;
  } | null;
}

export interface DiscoveryMesh {
  readonly plane: RunningControlPlane;
  readonly proxy: RunningProxy;
  readonly adminUrl: string;
  nodes(): Promise<NodeView[]>;
  /** Replaces the base config's proxy.http (as a file edit would); returns the new version. */
  putHttp(http: Readonly<Record<string, unknown>>): Promise<string>;
  /** The control plane's current config version. */
  version(): Promise<string>;
  /** A gauge or counter of the proxy node's /metrics, summed over series matching `labels`. */
  proxyMetric(name: string, labels?: Readonly<Record<string, string>>): Promise<number>;
  close(): Promise<void>;
}

export async function startDiscoveryMesh(options: {
  readonly kubeconfig: string;
  readonly namespace: string;
  readonly proxyId: string;
  readonly http: Readonly<Record<string, unknown>>;
}): Promise<DiscoveryMesh> {
  const grpcPort = await freePort();
  const raw = (http: Readonly<Record<string, unknown>>) => ({
    logLevel: process.env['STREAMMESH_TEST_LOG'] ?? 'silent',
    controlPlane: kubernetesControlPlane({
      kubeconfig: options.kubeconfig,
      namespace: options.namespace,
      grpcPort,
    }),
    proxy: {
      id: options.proxyId,
      admin: '127.0.0.1:0',
      rtsp: { enabled: false },
      http,
    },
    signaling: { admin: '127.0.0.1:0', listen: '127.0.0.1:0' },
  });
  const config: MeshConfig = validateConfig(raw(options.http), 'discovery test');
  const adminToken = newAdminToken();
  const plane = await startControlPlane({
    config,
    log: createLogger('control-plane', config.logLevel),
    credentials: AdminCredentials.ofToken(adminToken),
    env: {},
  });
  let proxy: RunningProxy;
  try {
    proxy = await startProxy(config, createLogger('proxy', config.logLevel));
  } catch (error) {
    await plane.close();
    throw error;
  }
  const adminUrl = httpUrl(plane.admin);
  return {
    plane,
    proxy,
    adminUrl,
    nodes: async () => (await getJson<{ nodes: NodeView[] }>(`${adminUrl}/nodes`)).body.nodes,
    putHttp: async (http) => {
      // JSON is YAML: the admin API takes the whole config as a file would hold it.
      const put = await putText<{ version: string }>(
        `${adminUrl}/config`,
        JSON.stringify(raw(http)),
        adminToken,
      );
      if (put.status !== 200)
        throw new Error(`PUT /config: ${put.status} ${JSON.stringify(put.body)}`);
      return put.body.version;
    },
    version: async () => (await getJson<{ version: string }>(`${adminUrl}/config`)).body.version,
    proxyMetric: async (name, labels = {}) => {
      const { text } = await getText(`${httpUrl(proxy.admin)}/metrics`);
      let sum = 0;
      for (const line of text.split('\n')) {
        const match = /^(\w+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
        if (match?.[1] !== name) continue;
        const found = new Map(
          [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
        );
        if (Object.entries(labels).every(([key, value]) => found.get(key) === value)) {
          sum += Number(match[3]);
        }
      }
      return sum;
    },
    close: async () => {
      await proxy.close();
      await plane.close();
    },
  };
}
