/**
 * `streammesh up`: runs the control plane, one rtp-proxy and one signaling
 * node as child processes. The control plane starts first; the others are
 * told its address. A child that exits unexpectedly is restarted with
 * backoff, on the same addresses it had. SIGINT/SIGTERM stop every child
 * (SIGKILL after a grace period) and exit 0.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Backoff } from '../../shared/backoff.js';
import { packageRoot } from '../../shared/package-root.js';
import type { ReadyMessage, RoleName } from '../role-process.js';

/** A child that ran this long before exiting starts its backoff afresh. */
const STABLE_AFTER_MS = 10_000;
const STOP_GRACE_MS = 4_000;

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
  signaling: { admin: 'STREAMMESH_SIGNALING_ADMIN', listen: 'STREAMMESH_SIGNALING_LISTEN' },
};

export interface SupervisorOptions {
  readonly configFile: string | undefined;
  readonly write: (line: string) => void;
  /** A role cannot run at all (its config is refused): `up` must end. */
  readonly onFatal: (exitCode: number) => void;
}

interface Child {
  readonly role: RoleName;
  readonly backoff: Backoff;
  process: ChildProcess | undefined;
  startedAt: number;
  readyOnce: boolean;
  /** Set once ready: environment that keeps its addresses across restarts. */
  pinned: Record<string, string>;
  restartTimer: NodeJS.Timeout | undefined;
}

export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #children = new Map<RoleName, Child>();
  readonly #sharedEnv: Record<string, string> = {};
  #stopping = false;

  constructor(options: SupervisorOptions) {
    this.#options = options;
  }

  /** Starts every role; resolves once the control plane is ready. */
  async start(): Promise<void> {
    const controlPlaneReady = new Promise<ReadyMessage>((resolve) => {
      this.#spawn(this.#child('control-plane'), resolve);
    });
    const ready = await controlPlaneReady;
    const grpc = ready.listen['grpc'];
    if (grpc !== undefined) this.#sharedEnv['STREAMMESH_CONTROL_PLANE'] = grpc;
    if (this.#stopping) return;
    this.#spawn(this.#child('proxy'));
    this.#spawn(this.#child('signaling'));
  }

  /** Stops every child; resolves when all have exited. */
  async stop(): Promise<void> {
    this.#stopping = true;
    const exits: Promise<void>[] = [];
    for (const child of this.#children.values()) {
      clearTimeout(child.restartTimer);
      const running = child.process;
      if (running === undefined || running.exitCode !== null || running.signalCode !== null) {
        continue;
      }
      exits.push(
        new Promise<void>((resolve) => {
          running.once('exit', () => resolve());
          const kill = setTimeout(() => running.kill('SIGKILL'), STOP_GRACE_MS);
          running.once('exit', () => clearTimeout(kill));
          running.kill('SIGTERM');
        }),
      );
    }
    await Promise.all(exits);
  }

  #child(role: RoleName): Child {
    const child: Child = {
      role,
      backoff: new Backoff({ baseMs: 250, maxMs: 10_000 }),
      process: undefined,
      startedAt: 0,
      readyOnce: false,
      pinned: {},
      restartTimer: undefined,
    };
    this.#children.set(role, child);
    return child;
  }

  #spawn(child: Child, onReady?: (message: ReadyMessage) => void): void {
    const args: string[] = [child.role];
    if (this.#options.configFile !== undefined) args.push('--config', this.#options.configFile);
    const subprocess = fork(join(packageRoot(), 'bin', 'streammesh.js'), args, {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, ...this.#sharedEnv, ...child.pinned },
      execArgv: roleExecArgv[child.role],
    });
    child.process = subprocess;
    child.startedAt = Date.now();
    subprocess.on('message', (message: unknown) => {
      if (!isReadyMessage(message)) return;
      child.pinned = pinnedEnvironment(child.role, message);
      const again = child.readyOnce ? ' (restarted)' : '';
      child.readyOnce = true;
      this.#options.write(`${child.role.padEnd(13)} ready  ${message.adminUrl}${again}`);
      if (again === '') {
        for (const [label, url] of Object.entries(message.urls)) {
          this.#options.write(`${''.padEnd(13)} ${label.padEnd(12)} ${url}`);
        }
      }
      onReady?.(message);
    });
    subprocess.on('exit', (code, signal) => {
      if (this.#stopping) return;
      if (code === 2) {
        // Exit 2 is a bad config: restarting cannot help.
        this.#options.write(`${child.role} exited with a config error; not restarting`);
        this.#options.onFatal(2);
        return;
      }
      if (Date.now() - child.startedAt > STABLE_AFTER_MS) child.backoff.reset();
      const delay = child.backoff.next();
      this.#options.write(
        `${child.role} exited (${signal ?? `code ${code ?? '?'}`}); restarting in ${delay} ms`,
      );
      child.restartTimer = setTimeout(() => this.#spawn(child, onReady), delay);
    });
  }
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
