/**
 * A control plane replica under leader election (controlPlane.registry
 * kubernetes, leaderElection.enabled): it stands by with the standby admin
 * (alive, not ready) until it takes the Lease, then closes that listener and
 * starts the control plane (`lead`), which binds gRPC and the admin API. So
 * only the leader ever serves nodes: a follower binds no gRPC port, and the
 * Service routes to ready pods only.
 *
 * A leader that stops leading (no renewal within renewDeadline, or another
 * holder seen) ends the process with a non-zero code, as client-go's
 * OnStoppedLeading does by convention: Kubernetes restarts it as a follower,
 * and it never serves beside a new leader. close() (SIGTERM) stops the
 * control plane first and then releases the Lease, so the follower takes
 * over at its next read, not after the lease runs out.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { AdminCredentials } from '../../shared/admin/index.js';
import type { HostPort } from '../../shared/address.js';
import type { KubernetesConfig } from '../../config/index.js';
import type { Logger } from '../../shared/log.js';
import type { KubeClient } from './kube-client.js';
import { LeaderElector } from './leader-election.js';
import { kubernetesLeaseApi } from './lease-api.js';
import { startStandbyAdmin, type StandbyAdmin } from './standby-admin.js';

export interface Leading {
  close(): Promise<void>;
}

export interface ElectedReplicaOptions {
  readonly settings: KubernetesConfig;
  readonly kube: KubeClient;
  /** controlPlane.admin: the standby admin's address until this replica leads. */
  readonly admin: HostPort;
  readonly credentials: AdminCredentials;
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  /** Starts serving: called once, when this replica has taken the Lease. */
  readonly lead: () => Promise<Leading>;
  /** Ends the process (a replica that lost the Lease, or could not start leading). */
  readonly exit: (code: number) => void;
}

export interface ElectedReplica {
  /** Where the standby admin listens. */
  readonly admin: HostPort;
  readonly identity: string;
  close(): Promise<void>;
}

/** The Lease's holderIdentity: the pod's name, and a suffix new at every process start. */
export function holderIdentity(env: NodeJS.ProcessEnv): string {
  const pod = env['POD_NAME'] ?? env['HOSTNAME'] ?? hostname();
  return `${pod}_${randomBytes(4).toString('hex')}`;
}

export async function startElectedReplica(options: ElectedReplicaOptions): Promise<ElectedReplica> {
  const { settings, log } = options;
  const election = settings.leaderElection;
  let closing = false;
  let standby: StandbyAdmin | undefined;
  let leading: Leading | undefined;
  let starting: Promise<void> | undefined;

  const startLeading = async (): Promise<void> => {
    if (closing) return;
    await standby?.close();
    standby = undefined;
    log.info({ identity: elector.identity }, 'leader election: starting the control plane');
    try {
      leading = await options.lead();
    } catch (error) {
      log.fatal({ err: error }, 'leader election: the control plane could not start; releasing');
      await elector.release();
      options.exit(1);
    }
  };

  const elector = new LeaderElector({
    api: kubernetesLeaseApi(options.kube, election.lease),
    identity: holderIdentity(options.env),
    leaseDurationMs: election.leaseDurationSec * 1000,
    renewDeadlineMs: election.renewDeadlineSec * 1000,
    retryPeriodMs: election.retryPeriodSec * 1000,
    log,
    onStartedLeading: () => {
      starting = startLeading();
    },
    onStoppedLeading: (reason) => {
      log.fatal(
        { reason },
        'leader election: stopped leading; exiting so as never to serve beside the new leader',
      );
      options.exit(1);
    },
  });
  standby = await startStandbyAdmin({
    listen: options.admin,
    credentials: options.credentials,
    log,
    leader: () => elector.observedHolder,
  });
  log.info(
    {
      identity: elector.identity,
      lease: `${options.kube.namespace}/${election.lease}`,
      api: options.kube.source,
      admin: standby.address,
    },
    'leader election: standing by until this replica holds the lease',
  );
  elector.start();
  return {
    admin: standby.address,
    identity: elector.identity,
    async close() {
      closing = true;
      await starting;
      await leading?.close();
      await standby?.close();
      await elector.release();
    },
  };
}
