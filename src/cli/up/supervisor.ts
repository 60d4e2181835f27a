/**
 * `streammesh up`: runs the control plane, the rtp-proxies and the signaling
 * nodes as child processes: one of each, or one per entry of proxy.instances
 * and signaling.instances (each told its id and bind host; the console names
 * it by its id). The control plane starts first; the others are told its
 * address. A role that cannot start (a port taken, its first config
 * refused) ends `up` with exit code 2 and its reason in one line: restarting
 * cannot help. A child that exits later, after it was ready, is restarted
 * with backoff, on the same addresses it had. Children run in process groups
 * of their own, so a Ctrl-C reaches `up` alone, which stops the nodes first
 * and the control plane last (no node sees its control plane vanish), with
 * SIGKILL after a grace period. The groups are in up's session, not in
 * sessions of their own (src/shared/process-group.ts says why), where the
 * process-group addon is built.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Backoff } from '../../shared/backoff.js';
import { packageRoot } from '../../shared/package-root.js';
import { loadProcessGroupAddon, OWN_GROUP_VARIABLE } from '../../shared/process-group.js';
import type { ReadyMessage, RoleName } from '../role-process.js';
import { allocatorEnvironment } from './allocator.js';
import { consoleLine, followRoleOutput } from './role-output.js';

/** A child that ran this long before exiting starts its backoff afresh. */
const STABLE_AFTER_MS = 10_000;
const STOP_GRACE_MS = 4_000;
/** The process-group addon, or why it did not load: then each role gets a session of its own. */
const processGroupAddon = loadProcessGroupAddon();
/** Whether a role can make its own process group in up's session (else: a session of its own). */
const ownGroups = !('error' in processGroupAddon);

/**
 * V8 flags per role. The proxy allocates a Buffer per datagram: a 32 MiB
 * young generation (default 16) means fewer scavenges. One A/B run of
 * `npm run bench:rtp -- --quick` gave +21% packets per CPU-second; the full
 * benchmark has not shown the gain above its noise (loadtests/README.md).
 */
export const roleExecArgv: Record<RoleName, string[]> = {
  'control-plane': [],
  proxy: ['--max-semi-space-size=32'],
  signaling: [],
};

/** Environment variables that pin a restarted role to the addresses it had. */
const pinnedAddressVariables: Record<RoleName, Record<string, string>> = {
  'control-plane': {
    admin: 'STREAMMESH_CONTROL_PLANE_ADMIN',
    grpc: 'STREAMMESH_CONTROL_PLANE_GRPC',
  },
  proxy: { admin: 'STREAMMESH_PROXY_ADMIN' },
  signaling: {
    admin: 'STREAMMESH_SIGNALING_ADMIN',
    listen: 'STREAMMESH_SIGNALING_LISTEN',
    cascade: 'STREAMMESH_SIGNALING_CASCADE_LISTEN',
  },
};

/**
 * A node of `proxy.instances` or `signaling.instances`: `up` runs one per
 * entry instead of one. (Its serviceAccount is read by the node itself, from
 * the entry of its id.)
 */
export interface NodeInstance {
  readonly id: string;
  readonly host: string;
}

/** The variables that make a child one instance: its id and its bind host. */
const instanceVariables = {
  proxy: { id: 'STREAMMESH_PROXY_ID', bindHost: 'STREAMMESH_PROXY_BIND_HOST' },
  signaling: { id: 'STREAMMESH_SIGNALING_ID', bindHost: 'STREAMMESH_SIGNALING_BIND_HOST' },
} as const;

export interface SupervisorOptions {
  readonly configFile: string | undefined;
  /** The proxies to run (proxy.instances); none: one proxy as the config says. */
  readonly proxies: readonly NodeInstance[];
  /** The signaling nodes to run (signaling.instances); none: one as the config says. */
  readonly signalingNodes: readonly NodeInstance[];
  /** A console line. */
  readonly write: (line: string) => void;
  /** Every line the roles write (the log file). */
  readonly record: (line: string) => void;
  /** A role cannot run at all (its config is refused, it cannot start): `up` must end. */
  readonly onFatal: (exitCode: number) => void;
}

/** Lines kept of a child's output that the console did not show, for when it cannot start. */
const KEPT_LINES = 20;

interface Child {
  readonly role: RoleName;
  /** What the console calls it: the role, or an instance's id. */
  readonly name: string;
  /** Its own environment (an instance's id and bind host). */
  readonly env: Readonly<Record<string, string>>;
  readonly backoff: Backoff;
  process: ChildProcess | undefined;
  startedAt: number;
  readyOnce: boolean;
  /** Set once ready: environment that keeps its addresses across restarts. */
  pinned: Record<string, string>;
  /** Its last lines the console did not show (a crash's stack trace, say). */
  unshown: string[];
  /** Whether the console showed why it failed (a fatal log record). */
  toldWhy: boolean;
  /** Warnings and errors from before it was first ready. */
  held: string[];
  restartTimer: NodeJS.Timeout | undefined;
}

export class Supervisor {
  readonly #options: SupervisorOptions;
  /** By role and name: a proxy and a signaling node may share an id. */
  readonly #children = new Map<string, Child>();
  readonly #sharedEnv: Record<string, string> = {};
  #stopping = false;

  constructor(options: SupervisorOptions) {
    this.#options = options;
  }

  /** Starts every role; resolves once the control plane is ready. */
  async start(): Promise<void> {
    if ('error' in processGroupAddon) {
      // Said once: the roles run, but under autogroup scheduling the proxy's L7 threads
      // then yield to its media only inside the proxy's own session (src/shared/process-group.ts).
      this.#options.write(
        `up: the process-group addon is not loaded (${processGroupAddon.error}); ` +
          'each role runs in a session of its own, where the proxy shares the CPU as one scheduling group',
      );
    }
    const controlPlaneReady = new Promise<ReadyMessage>((resolve) => {
      this.#spawn(this.#child('control-plane'), resolve);
    });
    const ready = await controlPlaneReady;
    const grpc = ready.listen['grpc'];
    if (grpc !== undefined) this.#sharedEnv['STREAMMESH_CONTROL_PLANE'] = grpc;
    if (this.#stopping) return;
    this.#spawnNodes('proxy', this.#options.proxies);
    this.#spawnNodes('signaling', this.#options.signalingNodes);
  }

  /** Stops every child, the nodes first and the control plane last; resolves when all have exited. */
  async stop(): Promise<void> {
    this.#stopping = true;
    const nodes = [...this.#children.values()].filter(({ role }) => role !== 'control-plane');
    await Promise.all(nodes.map((child) => stopChild(child)));
    const controlPlane = this.#children.get(childKey('control-plane', 'control-plane'));
    if (controlPlane !== undefined) await stopChild(controlPlane);
  }

  /** One node of `role` as the config says, or one per instance on its own id and host. */
  #spawnNodes(role: 'proxy' | 'signaling', instances: readonly NodeInstance[]): void {
    if (instances.length === 0) this.#spawn(this.#child(role));
    const variables = instanceVariables[role];
    for (const { id, host } of instances) {
      this.#spawn(this.#child(role, id, { [variables.id]: id, [variables.bindHost]: host }));
    }
  }

  #child(role: RoleName, name: string = role, env: Record<string, string> = {}): Child {
    const child: Child = {
      role,
      name,
      env,
      backoff: new Backoff({ baseMs: 250, maxMs: 10_000 }),
      process: undefined,
      startedAt: 0,
      readyOnce: false,
      pinned: {},
      unshown: [],
      toldWhy: false,
      held: [],
      restartTimer: undefined,
    };
    this.#children.set(childKey(role, name), child);
    return child;
  }

  #spawn(child: Child, onReady?: (message: ReadyMessage) => void): void {
    const args: string[] = [child.role];
    if (this.#options.configFile !== undefined) args.push('--config', this.#options.configFile);
    const subprocess = fork(join(packageRoot(), 'bin', 'streammesh.js'), args, {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // A process group of its own: the terminal's Ctrl-C reaches `up` only, which stops it in order.
      // The role makes it in up's session; without the addon, a session of its own makes it.
      detached: !ownGroups,
      env: {
        ...process.env,
        ...(ownGroups ? { [OWN_GROUP_VARIABLE]: '1' } : {}),
        ...(child.role === 'proxy' ? allocatorEnvironment() : {}),
        ...this.#sharedEnv,
        ...child.env,
        ...child.pinned,
      },
      execArgv: roleExecArgv[child.role],
    });
    child.process = subprocess;
    child.startedAt = Date.now();
    child.unshown = [];
    child.toldWhy = false;
    followRoleOutput(child.name, [subprocess.stdout, subprocess.stderr], {
      record: (line) => {
        this.#options.record(line);
        if (consoleLine(child.name, line) === undefined) {
          child.unshown.push(line);
          if (child.unshown.length > KEPT_LINES) child.unshown.shift();
        }
      },
      write: (line) => {
        if (line.startsWith(`${child.name}: `)) {
          child.toldWhy = true;
          this.#options.write(line);
        } else if (child.readyOnce) {
          this.#options.write(line);
        } else {
          // Until it is ready: shown after its banner, or not at all if its fatal line tells why.
          child.held.push(line);
        }
      },
    });
    subprocess.on('message', (message: unknown) => {
      if (!isReadyMessage(message)) return;
      child.pinned = pinnedEnvironment(child.role, message);
      const again = child.readyOnce ? ' (restarted)' : '';
      child.readyOnce = true;
      this.#options.write(`${child.name.padEnd(13)} ready  ${message.adminUrl}${again}`);
      if (again === '') {
        for (const [label, url] of Object.entries(message.urls)) {
          this.#options.write(`${''.padEnd(13)} ${label.padEnd(12)} ${url}`);
        }
      }
      for (const line of child.held.splice(0)) this.#options.write(line);
      onReady?.(message);
    });
    subprocess.on('exit', (code, signal) => {
      if (this.#stopping) return;
      if (!child.readyOnce || code === 2) {
        // It could not start (or its config is bad): restarting cannot help.
        if (!child.toldWhy) {
          const status = signal ?? `code ${code ?? '?'}`;
          this.#options.write(`${child.name}: exited (${status}) before it was ready`);
          for (const line of [...child.held, ...child.unshown]) this.#options.write(`  ${line}`);
        }
        this.#options.onFatal(2);
        return;
      }
      if (Date.now() - child.startedAt > STABLE_AFTER_MS) child.backoff.reset();
      const delay = child.backoff.next();
      this.#options.write(
        `${child.name} exited (${signal ?? `code ${code ?? '?'}`}); restarting in ${delay} ms`,
      );
      child.restartTimer = setTimeout(() => this.#spawn(child, onReady), delay);
    });
  }
}

/**
 * SIGINT (stop now: `up` stops the whole mesh, so a proxy has nowhere to
 * drain to), then SIGKILL after the grace period; resolves when it has exited.
 */
function stopChild(child: Child): Promise<void> {
  clearTimeout(child.restartTimer);
  const running = child.process;
  if (running === undefined || running.exitCode !== null || running.signalCode !== null) {
    return Promise.resolve();
  }
  return new Promise<void>((resolve) => {
    const kill = setTimeout(() => running.kill('SIGKILL'), STOP_GRACE_MS);
    running.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    running.kill('SIGINT');
  });
}

function childKey(role: RoleName, name: string): string {
  return `${role}/${name}`;
}

function pinnedEnvironment(role: RoleName, ready: ReadyMessage): Record<string, string> {
  const pinned: Record<string, string> = {};
  for (const [name, variable] of Object.entries(pinnedAddressVariables[role])) {
    const address = ready.listen[name];
    if (address !== undefined) pinned[variable] = address;
  }
  return pinned;
}

function isReadyMessage(message: unknown): message is ReadyMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { type?: unknown }).type === 'ready'
  );
}
