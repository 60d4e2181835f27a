/**
 * A control plane (mutual TLS on, as by default) and several signaling nodes
 * in one process, each node on its own loopback address: how the cascade
 * tests run rooms across nodes. Each node gets the config `up` would give it
 * (its own SPIFFE ID from its service account in signaling.instances), port
 * 0 everywhere but its RTC range, and one worker.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../../src/config/index.js';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/index.js';
import { formatHostPort, httpUrl } from '../../src/shared/address.js';
import { AdminCredentials } from '../../src/shared/admin/index.js';
import { createLogger } from '../../src/shared/log.js';
import { startSignaling, type RunningSignaling } from '../../signaling/index.js';
import { newAdminToken } from './admin-token.js';
import { freePort } from './ports.js';

export interface SignalingMeshNode {
  readonly id: string;
  readonly host: string;
  readonly rtcPorts: readonly [number, number];
  /** More of the node's own signaling.cascade, e.g. "pipeLingerMs: 500". */
  readonly cascade?: string;
}

export interface SignalingMeshOptions {
  /** Of the temporary directory (CA, tokens). */
  readonly prefix: string;
  readonly nodes: readonly SignalingMeshNode[];
  /** Lines under `signaling:` for the control plane (which pushes them) and every node. */
  readonly signaling?: readonly string[];
  /** pino level; 'silent' unless a test is being debugged. */
  readonly logLevel?: string;
  /**
   * The control plane's heartbeat (default 200 ms: a node is found stale
   * 0.6 s after it stops, which keeps failure tests short; a loaded process
   * may reach that, and a stale node's PIPEs are withdrawn).
   */
  readonly heartbeatIntervalMs?: number;
}

export interface SignalingMesh {
  readonly plane: RunningControlPlane;
  /** In the order of the options' nodes. */
  readonly nodes: readonly RunningSignaling[];
  readonly adminUrl: string;
  /** The node of that id; fails the test when the mesh has none. */
  node(id: string): RunningSignaling;
  /** Stops every node not in `closed`, then the control plane, and removes the directory. */
  close(closed?: ReadonlySet<RunningSignaling>): Promise<void>;
}

export async function startSignalingMesh(options: SignalingMeshOptions): Promise<SignalingMesh> {
  const dir = mkdtempSync(join(tmpdir(), `${options.prefix}-`));
  const level = options.logLevel ?? 'silent';
  const grpcPort = await freePort();
  const configText = (node?: SignalingMeshNode): string =>
    [
      `logLevel: ${level}`,
      'controlPlane:',
      '  admin: 127.0.0.1:0',
      `  grpc: 127.0.0.1:${grpcPort}`,
      `  heartbeatIntervalMs: ${options.heartbeatIntervalMs ?? 200}`,
      '  trustDomain: mesh.test',
      `  adminTokenFile: ${join(dir, 'state', 'admin-token')}`,
      `  bootstrapTokenFile: ${join(dir, 'state', 'bootstrap-token')}`,
      `  ca: { dir: ${join(dir, 'ca')} }`,
      'signaling:',
      ...(options.signaling ?? []),
      ...(node === undefined
        ? ['  admin: 127.0.0.1:0', '  listen: 127.0.0.1:0', '  cascade: { listen: 127.0.0.1:0 }']
        : [
            `  id: ${node.id}`,
            `  admin: ${node.host}:0`,
            `  listen: ${node.host}:0`,
            `  rtcListenIp: ${node.host}`,
            `  rtcPorts: { start: ${node.rtcPorts[0]}, end: ${node.rtcPorts[1]} }`,
            '  workers: 1',
            `  cascade: { listen: ${node.host}:0${node.cascade === undefined ? '' : `, ${node.cascade}`} }`,
          ]),
      // Each node its own SPIFFE ID (its service account), as `up` gives them.
      '  instances:',
      ...options.nodes.map(
        (entry) => `    - { id: ${entry.id}, host: ${entry.host}, serviceAccount: ${entry.id} }`,
      ),
    ].join('\n');
  const logger = (name: string) => createLogger(name, level === 'silent' ? 'silent' : 'info');
  const plane = await startControlPlane({
    config: parseConfigText(configText(), 'control plane'),
    env: { XDG_STATE_HOME: join(dir, 'xdg') },
    log: logger('control-plane'),
    credentials: AdminCredentials.ofToken(newAdminToken()),
    // Rooms are placed (and pipes planned) soon after the nodes register.
    placementGraceMs: 300,
  });
  const nodes: RunningSignaling[] = [];
  try {
    for (const node of options.nodes) {
      const config = parseConfigText(configText(node), `${node.id} start-up`);
      nodes.push(await startSignaling(config, logger(node.id)));
    }
    await Promise.all(nodes.map((node) => node.serving()));
  } catch (error) {
    for (const node of nodes) await node.close();
    await plane.close();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    plane,
    nodes,
    adminUrl: httpUrl(plane.admin),
    node(id) {
      const found = nodes.find((node) => node.id === id);
      assert.ok(found !== undefined, `node ${id} runs`);
      return found;
    },
    async close(closed = new Set()) {
      for (const node of nodes) if (!closed.has(node)) await node.close();
      await plane.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A node's WebSocket signaling endpoint (signaling/PROTOCOL.md). */
export function wsUrlOf(node: RunningSignaling): string {
  return `ws://${formatHostPort(node.listen)}/ws`;
}
