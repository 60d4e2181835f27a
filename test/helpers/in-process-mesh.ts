/**
 * A control plane and a real rtp-proxy node in this process, on ephemeral
 * ports (the control plane's gRPC port is picked once, so it can restart on
 * it). What the node received is read from its own metrics, not from what
 * the control plane meant to send.
 */
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/index.js';
import { parseConfigText } from '../../src/config/index.js';
import { httpUrl } from '../../src/shared/address.js';
import { AdminCredentials } from '../../src/shared/admin/index.js';
import { createLogger } from '../../src/shared/log.js';
import { startProxy, type RunningProxy } from '../../rtp-proxy/index.js';
import { newAdminToken } from './admin-token.js';
import { getJson, getText, putText } from './http.js';
import { freePort } from './ports.js';
import { waitFor } from './process.js';
import { UdpPeer } from './udp.js';

export const PROXY_ID = 'proxy-in-process';

export interface ResourceStateView {
  type: string;
  name: string;
  acked: string | null;
  pending: string | null;
  nacked: { version: string; reason: string } | null;
}

export interface NodeView {
  id: string;
  state: string;
  ackedVersion: string;
  lastNack?: { version: string; reason: string };
  resources: ResourceStateView[];
  load: {
    sentAt: string;
    packetsPerSecond: number;
    bitrateBps: number;
    cpuCores: number;
    sessions: number;
    capacity: { packetsPerSecond: number; bitrateBps: number; sessions: number };
  } | null;
}

/** Resources a node received, by change ("update", "remove") and type. */
export type Received = Record<'update' | 'remove', Record<string, number>>;

export interface InProcessMeshOptions {
  /**
   * controlPlane.mtls false: for a test that also talks to the control plane
   * with a scripted plaintext client (its subject is the messages, not TLS).
   */
  readonly plaintext?: boolean;
}

export class InProcessMesh {
  readonly #grpcPort: number;
  readonly #plaintext: boolean;
  /** The control plane's admin token, sent by put(). */
  readonly adminToken = newAdminToken();
  plane: RunningControlPlane | undefined;
  proxy: RunningProxy | undefined;

  private constructor(grpcPort: number, plaintext: boolean) {
    this.#grpcPort = grpcPort;
    this.#plaintext = plaintext;
  }

  /** `extra` is YAML appended under the base (which holds logLevel, controlPlane and proxy keys). */
  static async start(
    proxyYaml: string,
    options: InProcessMeshOptions = {},
  ): Promise<InProcessMesh> {
    const mesh = new InProcessMesh(await freePort(), options.plaintext === true);
    await mesh.startControlPlane(proxyYaml);
    mesh.proxy = await startProxy(
      parseConfigText(mesh.configText(proxyYaml), 'proxy start-up'),
      createLogger('proxy', 'silent'),
    );
    await mesh.waitAcked();
    return mesh;
  }

  /** The whole config: fixed control-plane and node settings, then the proxy's `proxyYaml` (indented under proxy:). */
  configText(proxyYaml: string, logLevel = 'silent'): string {
    return [
      `logLevel: ${logLevel}`,
      'controlPlane:',
      '  admin: 127.0.0.1:0',
      `  grpc: 127.0.0.1:${this.#grpcPort}`,
      '  heartbeatIntervalMs: 200',
      ...(this.#plaintext ? ['  mtls: false'] : []),
      'proxy:',
      `  id: ${PROXY_ID}`,
      '  admin: 127.0.0.1:0',
      '  rtsp: { enabled: false }',
      ...proxyYaml.split('\n').map((line) => `  ${line}`),
      'signaling:',
      '  admin: 127.0.0.1:0',
      '  listen: 127.0.0.1:0',
    ].join('\n');
  }

  async startControlPlane(proxyYaml: string): Promise<void> {
    this.plane = await startControlPlane({
      config: parseConfigText(this.configText(proxyYaml), 'control plane'),
      log: createLogger('control-plane', 'silent'),
      credentials: AdminCredentials.ofToken(this.adminToken),
      // A restarted control plane (a Hello that returns placements) keeps
      // its grace for the whole test. A first start still places its routes
      // FIRST_START_SETTLE_MS (1 s) after the node registered, at a time no
      // test controls: receivedSince leaves PLACEMENT out of its counts.
      // Placement has tests of its own (test/integration/mesh/placement*.test.ts).
      placementGraceMs: 10 * 60_000,
    });
  }

  get adminUrl(): string {
    if (this.plane === undefined) throw new Error('no control plane');
    return httpUrl(this.plane.admin);
  }

  get proxyUrl(): string {
    if (this.proxy === undefined) throw new Error('no proxy');
    return httpUrl(this.proxy.admin);
  }

  /** Writes a config on the admin API; returns its version. */
  async put(proxyYaml: string, logLevel = 'silent'): Promise<string> {
    const put = await putText<{ version: string; changed: boolean }>(
      `${this.adminUrl}/config`,
      this.configText(proxyYaml, logLevel),
      this.adminToken,
    );
    if (put.status !== 200 || !put.body.changed) {
      throw new Error(`PUT /config: ${put.status} ${JSON.stringify(put.body)}`);
    }
    return put.body.version;
  }

  async node(): Promise<NodeView | undefined> {
    const { body } = await getJson<{ nodes: NodeView[] }>(`${this.adminUrl}/nodes`);
    return body.nodes.find((node) => node.id === PROXY_ID);
  }

  /** Waits until the node acknowledged `version` (default: the control plane's current one). */
  async waitAcked(version?: string): Promise<NodeView> {
    const wanted =
      version ?? (await getJson<{ version: string }>(`${this.adminUrl}/config`)).body.version;
    return waitFor(
      async () => {
        const node = await this.node();
        return node?.ackedVersion === wanted ? node : undefined;
      },
      5_000,
      () => `node ${PROXY_ID} to acknowledge ${wanted}`,
    );
  }

  /** The node's streammesh_node_config_resources_received_total, by change and type. */
  async received(): Promise<Received> {
    const { text } = await getText(`${this.proxyUrl}/metrics`);
    const received: Received = { update: {}, remove: {} };
    const line = /^streammesh_node_config_resources_received_total\{([^}]*)\} (\d+)$/gm;
    for (const match of text.matchAll(line)) {
      const labels = new Map(
        [...(match[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
      );
      const change = labels.get('change') === 'remove' ? 'remove' : 'update';
      received[change][labels.get('type') ?? '?'] = Number(match[2]);
    }
    return received;
  }

  async close(): Promise<void> {
    await this.proxy?.close();
    await this.plane?.close();
  }
}

const NOT_CONFIG = new Set(['TRUST_BUNDLE', 'PLACEMENT']);

/**
 * The config resources `after` received that `before` had not, per change
 * and type (zero counts left out). What is not config is left out: the
 * trust bundle (a restarted control plane sends it again: its edge-token
 * signer, which the bundle names, is new) and PLACEMENT (a first start
 * places the routes a second after the node registered, whichever test is
 * running then).
 */
export function receivedSince(before: Received, after: Received): Received {
  const diff = (a: Record<string, number>, b: Record<string, number>): Record<string, number> =>
    Object.fromEntries(
      Object.entries(b)
        .filter(([type]) => !NOT_CONFIG.has(type))
        .map(([type, count]): [string, number] => [type, count - (a[type] ?? 0)])
        .filter(([, count]) => count !== 0),
    );
  return { update: diff(before.update, after.update), remove: diff(before.remove, after.remove) };
}

/** An in-process mesh whose proxy relays one route, `cam`, from `listen` to a UDP receiver. */
export interface OneRouteMesh {
  readonly mesh: InProcessMesh;
  /** The route's RTP/RTCP port (rtcp-mux) on 127.0.0.1. */
  readonly listen: number;
  readonly receiver: UdpPeer;
  close(): Promise<void>;
}

export async function startOneRouteMesh(options: InProcessMeshOptions = {}): Promise<OneRouteMesh> {
  const listen = await freePort();
  const receiver = await UdpPeer.bind();
  const mesh = await InProcessMesh.start(
    [
      'routes:',
      `  - { name: cam, listen: 127.0.0.1:${listen}, rtcpMux: true, destinations: [{ address: 127.0.0.1:${receiver.port}, rtcpMux: true }] }`,
    ].join('\n'),
    options,
  );
  return {
    mesh,
    listen,
    receiver,
    close: async () => {
      receiver.close();
      await mesh.close();
    },
  };
}
