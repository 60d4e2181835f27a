/**
 * The admin listener of a control plane replica that does not lead: alive
 * (/healthz 200) but not ready (/readyz 503, naming who leads), so the
 * Service sends nodes to the leader only, and /metrics with
 * streammesh_control_plane_leader 0. It binds controlPlane.admin until this
 * replica takes the Lease; then it closes and the control plane binds the
 * same address with its full admin API.
 */
import { Gauge } from 'prom-client';
import { AdminServer, type AdminCredentials } from '../../shared/admin/index.js';
import type { HostPort } from '../../shared/address.js';
import type { Logger } from '../../shared/log.js';
import { createMetricsRegistry } from '../../shared/metrics.js';

export interface StandbyAdminOptions {
  readonly listen: HostPort;
  readonly credentials: AdminCredentials;
  readonly log: Logger;
  /** The holder of the Lease as last seen: '' when free, undefined before the first read. */
  readonly leader: () => string | undefined;
}

export interface StandbyAdmin {
  readonly address: HostPort;
  close(): Promise<void>;
}

export const LEADER_GAUGE_HELP =
  'Whether this control plane replica holds the leader election Lease (1) and serves nodes, or stands by (0).';

export async function startStandbyAdmin(options: StandbyAdminOptions): Promise<StandbyAdmin> {
  const metrics = createMetricsRegistry('control-plane');
  new Gauge({
    name: 'streammesh_control_plane_leader',
    help: LEADER_GAUGE_HELP,
    registers: [metrics],
  }).set(0);
  const admin = new AdminServer({
    listen: options.listen,
    metrics,
    log: options.log,
    readiness: () => ({ ready: false, reason: standbyReason(options.leader()) }),
    credentials: options.credentials,
    setting: 'controlPlane.admin',
  });
  const address = await admin.listen();
  return { address, close: () => admin.close() };
}

export function standbyReason(leader: string | undefined): string {
  if (leader === undefined) return 'standby: the leader election Lease is not read yet';
  if (leader === '') return 'standby: no replica leads (the Lease is free)';
  return `standby: ${leader} leads`;
}
