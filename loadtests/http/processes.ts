/**
 * What the benchmark's servers have in common: a process under coreutils
 * `timeout` (test/helpers/peers/process.ts, so it ends by itself even if the
 * driver is killed), the pid whose CPU is the server's work, and waiting
 * until its TCP ports accept connections.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { peerPid, type PeerProcess } from '../../test/helpers/peers/process.js';

export interface Server {
  readonly name: string;
  /** The process doing the server's work (nginx: its one worker), for /proc/<pid>/stat. */
  readonly workPid: number;
  running(): boolean;
  /** The end of its stderr, for error messages. */
  stderrTail(): string;
  stop(): Promise<void>;
}

/** A server that is one peer process; `workPid` is the peer or one of its children. */
export class PeerServer implements Server {
  readonly name: string;
  readonly workPid: number;
  readonly #peer: PeerProcess;
  /** What the server says about its threads of work, if it says (streammesh's metrics). */
  readonly reported: readonly string[];

  constructor(name: string, peer: PeerProcess, workPid: number, reported: readonly string[] = []) {
    this.name = name;
    this.#peer = peer;
    this.workPid = workPid;
    this.reported = reported;
  }

  running(): boolean {
    return this.#peer.running();
  }

  stderrTail(): string {
    return `${this.#peer.stdout().slice(-1_000)}${this.#peer.stderr().slice(-2_000)}`;
  }

  async stop(): Promise<void> {
    await this.#peer.stop();
  }
}

/** The peer's own pid (not its `timeout` wrapper's), waiting briefly for the exec. */
export async function waitPeerPid(peer: PeerProcess, timeoutMs = 5_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pid = peerPid(peer);
    if (pid !== undefined) return pid;
    if (!peer.running() || Date.now() > deadline) {
      throw new Error(`${peer.name} did not start:\n${peer.stderr().slice(-2_000)}`);
    }
    await sleep(20);
  }
}

/** Children of a process (from /proc; empty when it has none or is gone). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((text) => text !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** Resolves when every port accepts a TCP connection on 127.0.0.1; throws after the bound. */
export async function waitListening(
  ports: readonly number[],
  timeoutMs: number,
  alive: () => boolean,
  describe: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const port of ports) {
    while (!(await accepts(port))) {
      if (!alive()) throw new Error(`exited before listening on ${port}:\n${describe()}`);
      if (Date.now() > deadline) {
        throw new Error(
          `nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms:\n${describe()}`,
        );
      }
      await sleep(50);
    }
  }
}

export function accepts(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
