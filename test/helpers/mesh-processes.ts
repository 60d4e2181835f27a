/**
 * A control plane and a proxy as separate processes on fixed free ports, as
 * they run across machines: the test can kill, freeze and restart either.
 */
import { writeFileSync } from 'node:fs';
import { newAdminToken } from './admin-token.js';
import { getJson, waitReady } from './http.js';
import { freePort } from './ports.js';
import { startStreammesh, type Running } from './process.js';
import { writeTempConfig } from './mesh-config.js';

export interface ConfigDump {
  version: string | null;
  config: { logLevel: string; proxy: { mediaAddress: string } } | null;
}

export interface NodesView {
  nodes: {
    id: string;
    role: string;
    state: string;
    ackedVersion: string;
    lastNack?: { version: string; reason: string };
    resources: {
      type: string;
      name: string;
      acked: string | null;
      nacked: { version: string; reason: string } | null;
    }[];
  }[];
}

export class MeshProcesses {
  readonly configFile: string;
  readonly controlPlaneUrl: string;
  readonly proxyUrl: string;
  /** The admin token both processes hold (STREAMMESH_ADMIN_TOKEN): PUT /config must send it. */
  readonly adminToken = newAdminToken();
  readonly #env: Record<string, string>;
  controlPlane: Running | undefined;
  proxy: Running | undefined;

  private constructor(configFile: string, ports: { admin: number; grpc: number; proxy: number }) {
    this.configFile = configFile;
    this.controlPlaneUrl = `http://127.0.0.1:${ports.admin}`;
    this.proxyUrl = `http://127.0.0.1:${ports.proxy}`;
    this.#env = {
      STREAMMESH_CONTROL_PLANE_ADMIN: `127.0.0.1:${ports.admin}`,
      STREAMMESH_CONTROL_PLANE_GRPC: `127.0.0.1:${ports.grpc}`,
      STREAMMESH_PROXY_ADMIN: `127.0.0.1:${ports.proxy}`,
      STREAMMESH_PROXY_ID: 'proxy-under-test',
      STREAMMESH_ADMIN_TOKEN: this.adminToken,
    };
  }

  static async create(configText: string): Promise<MeshProcesses> {
    const ports = { admin: await freePort(), grpc: await freePort(), proxy: await freePort() };
    return new MeshProcesses(writeTempConfig(configText), ports);
  }

  writeConfig(text: string): void {
    writeFileSync(this.configFile, text);
  }

  async startControlPlane(): Promise<void> {
    this.controlPlane = startStreammesh(['control-plane', '--config', this.configFile], this.#env);
    await waitReady(this.controlPlaneUrl, () => this.controlPlane?.stderr() ?? '');
  }

  async startProxy(): Promise<void> {
    this.proxy = startStreammesh(['proxy', '--config', this.configFile], this.#env);
    await waitReady(this.proxyUrl, () => this.proxy?.stderr() ?? '');
  }

  async proxyConfig(): Promise<ConfigDump> {
    return (await getJson<ConfigDump>(`${this.proxyUrl}/config_dump`)).body;
  }

  async proxyNode(): Promise<NodesView['nodes'][number] | undefined> {
    const { body } = await getJson<NodesView>(`${this.controlPlaneUrl}/nodes`);
    return body.nodes.find((node) => node.id === 'proxy-under-test');
  }

  async stop(): Promise<void> {
    await Promise.all([
      this.proxy?.stop('SIGTERM', 5_000),
      this.controlPlane?.stop('SIGTERM', 5_000),
    ]);
  }
}
