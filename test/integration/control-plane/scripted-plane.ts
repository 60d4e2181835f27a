/**
 * A real control plane (startControlPlane, in this process) for the tests
 * that play its nodes with ScriptedProxy and ScriptedSignaling: plaintext
 * gRPC, as the scripted nodes speak it (those tests are about what goes to
 * whom, not mTLS), the admin API and gRPC on 127.0.0.1 ports picked before
 * it starts (a restart reuses them; a test may push a changed config with
 * the same text), the admin by a token, logs silent.
 */
import { parseConfigText } from '../../../src/config/index.js';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/index.js';
import { AdminCredentials } from '../../../src/shared/admin/index.js';
import { createLogger } from '../../../src/shared/log.js';
import { freePort } from '../../helpers/ports.js';

export interface PlanePorts {
  readonly grpc: number;
  readonly admin: number;
}

export async function freePlanePorts(): Promise<PlanePorts> {
  return { grpc: await freePort(), admin: await freePort() };
}

/**
 * The config text: plaintext gRPC and the admin at `ports`, heartbeats
 * every `heartbeatIntervalMs`, then `more` lines as written (indented two
 * spaces they go on under controlPlane; unindented they start a section).
 */
export function scriptedPlaneConfigText(
  ports: PlanePorts,
  heartbeatIntervalMs: number,
  more: readonly string[] = [],
): string {
  return [
    'logLevel: silent',
    'controlPlane:',
    '  mtls: false',
    `  admin: 127.0.0.1:${ports.admin}`,
    `  grpc: 127.0.0.1:${ports.grpc}`,
    `  heartbeatIntervalMs: ${heartbeatIntervalMs}`,
    ...more,
  ].join('\n');
}

export interface ScriptedPlaneOptions {
  readonly ports: PlanePorts;
  readonly heartbeatIntervalMs: number;
  /** Config lines after the control plane's own (scriptedPlaneConfigText). */
  readonly more?: readonly string[];
  /** The admin token (newAdminToken). */
  readonly token: string;
  readonly placementGraceMs: number;
  readonly roomLingerMs?: number;
}

export function startScriptedPlane(options: ScriptedPlaneOptions): Promise<RunningControlPlane> {
  const text = scriptedPlaneConfigText(options.ports, options.heartbeatIntervalMs, options.more);
  return startControlPlane({
    config: parseConfigText(text, 'control plane'),
    log: createLogger('control-plane', 'silent'),
    credentials: AdminCredentials.ofToken(options.token),
    placementGraceMs: options.placementGraceMs,
    ...(options.roomLingerMs === undefined ? {} : { roomLingerMs: options.roomLingerMs }),
  });
}
