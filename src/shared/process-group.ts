/**
 * Where `streammesh up` puts its roles: each in a process group of its own,
 * in up's session.
 *
 * A group of its own, so that a terminal's Ctrl-C (SIGINT to the foreground
 * process group) reaches `up` alone, which stops the nodes before the
 * control plane; a role's own children (mediasoup workers) share its group
 * and are spared too. Up's session, because on Linux with autogroup
 * scheduling (kernel.sched_autogroup_enabled, on by default in Debian and
 * Ubuntu) every session is one scheduling group: the nice values of the
 * proxy's threads (its L7 threads at 10, behind the media workers) then
 * only order threads inside that group, and the group's share of each CPU
 * follows where its load is. A role in a session of its own (fork's
 * `detached`, setsid, which is all node offers) had its media worker wait
 * 53 ms for a core, while the other CPU ran its L7 threads, under the HTTP
 * flood of test/e2e/l7/flood-isolation.test.ts.
 *
 * Node has no setpgid: the process-group addon (native/process-group) calls
 * it in the role, first thing. Where it is not built, `up` falls back to a
 * session per role, as before, and says so once.
 */
import { addonLoader } from './native-addon.js';

interface ProcessGroupAddon {
  ownGroup(): number;
}

/** Set by `up` in a role's environment: the role takes its own group at start (takeProcessGroupIfAsked). */
export const OWN_GROUP_VARIABLE = 'STREAMMESH_OWN_PROCESS_GROUP';

/** Relative to this file in src/shared/ and in dist/src/shared/ alike. */
const ADDON_PATHS = [
  '../../native/process-group/build/Release/process_group.node',
  '../../../native/process-group/build/Release/process_group.node',
];

/** The addon, or why it cannot be loaded; loaded once. */
export const loadProcessGroupAddon = addonLoader<ProcessGroupAddon>(import.meta.url, ADDON_PATHS);

/** Puts this process in a new process group of its own session; returns the group's id. */
export function ownProcessGroup(): number {
  const addon = loadProcessGroupAddon();
  if ('error' in addon) throw new Error(`process-group addon not loaded: ${addon.error}`);
  return addon.addon.ownGroup();
}

let groupFailure: unknown;

/**
 * Called first thing by the command (bin/streammesh.js), before the roles'
 * modules load, so that a Ctrl-C meant for `up` finds the role in its own
 * group as early as can be: a group of its own when `up` asked for one.
 */
export function takeProcessGroupIfAsked(): void {
  if (process.env[OWN_GROUP_VARIABLE] !== '1') return;
  try {
    ownProcessGroup();
  } catch (error) {
    groupFailure = error;
  }
}

/** Why the group `up` asked for could not be made; undefined when it was, or was not asked for. */
export function processGroupFailure(): unknown {
  return groupFailure;
}
