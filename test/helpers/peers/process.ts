/**
 * Third-party peers (ffmpeg, gst-launch-1.0, tshark, rtpengine) as child
 * processes with a hard bound on their lifetime.
 *
 * Every peer runs under coreutils `timeout`, so it ends by itself even when
 * the Node process that started it is killed; `timeout` forwards the signals
 * we send it to the peer, and it leads its own process group, so a last
 * resort SIGKILL to the group takes the peer with it. Peers still running
 * when the test process exits are killed; `stopAllPeers()` in a test's
 * `after` hook stops them gracefully first.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { canBindUdp, freePort } from '../ports.js';
import { udpSockets } from '../proc-udp.js';

export interface PeerExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when `timeout` had to end the peer: it outlived its bound. */
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

export interface PeerOptions {
  /** Hard bound on the peer's lifetime. */
  readonly timeoutMs: number;
  /** Signal that ends the peer gracefully (ffmpeg and tshark finish their files on SIGINT). */
  readonly stopSignal?: NodeJS.Signals;
  /** After the graceful signal, SIGKILL this much later. */
  readonly killAfterMs?: number;
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Called with each chunk of stdout (for live progress such as frame lines). */
  readonly onStdout?: (chunk: string) => void;
}

export interface PeerProcess {
  readonly name: string;
  /** The `timeout` wrapper: leads the peer's process group. */
  readonly child: ChildProcess;
  readonly exited: Promise<PeerExit>;
  stdout(): string;
  stderr(): string;
  running(): boolean;
  /** Resolves with the first match of `pattern` in stderr, as output arrives. */
  waitForStderr(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** The graceful signal, then SIGKILL to the group after `killAfterMs`. */
  stop(signal?: NodeJS.Signals): Promise<PeerExit>;
}

/** Peers' output is kept up to this size (the head; the tail is dropped). */
const MAX_OUTPUT = 4 * 1024 * 1024;

const live = new Set<PeerProcess>();

process.on('exit', () => {
  for (const peer of live) killGroup(peer.child, 'SIGKILL');
});

/** Throws a message that says how to install `command` when it is not on PATH. */
export function requirePeer(command: string): void {
  const found = (process.env['PATH'] ?? '').split(delimiter).some((dir) => {
    if (dir === '') return false;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!found) {
    throw new Error(`${command} is not installed: run scripts/install-test-peers.sh`);
  }
}

export function spawnPeer(
  command: string,
  args: readonly string[],
  options: PeerOptions,
): PeerProcess {
  const stopSignal = options.stopSignal ?? 'SIGINT';
  const killAfterMs = options.killAfterMs ?? 3_000;
  const child = spawn(
    'timeout',
    [
      '-s',
      stopSignal.replace(/^SIG/, ''),
      '-k',
      `${Math.ceil(killAfterMs / 1000)}s`,
      `${(options.timeoutMs / 1000).toFixed(3)}s`,
      command,
      ...args,
    ],
    {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  const stderrWaiters = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    if (stdout.length < MAX_OUTPUT) stdout += chunk;
    options.onStdout?.(chunk);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    if (stderr.length < MAX_OUTPUT) stderr += chunk;
    for (const wake of stderrWaiters) wake();
  });
  const exited = new Promise<PeerExit>((resolve) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      live.delete(peer);
      for (const wake of stderrWaiters) wake();
      resolve({ code, signal, timedOut: code === 124 || code === 137, stdout, stderr });
    };
    // 'close' waits for the pipes to drain, so the last output is included.
    child.once('close', finish);
    child.once('error', (error) => {
      stderr += `\nspawn ${command}: ${error.message}`;
      finish(null, null);
    });
  });
  const peer: PeerProcess = {
    name: command,
    child,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    running: () => live.has(peer),
    async waitForStderr(pattern, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = stderr.match(pattern);
        if (match !== null) return match;
        if (!live.has(peer)) {
          throw new Error(`${command} exited before printing ${pattern}:\n${stderr}`);
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`${command}: no ${pattern} in ${timeoutMs} ms:\n${stderr}`);
        await new Promise<void>((resolve) => {
          const wake = (): void => {
            clearTimeout(timer);
            stderrWaiters.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, Math.min(left, 100));
          stderrWaiters.add(wake);
        });
      }
    },
    async stop(signal = stopSignal) {
      if (!live.has(peer)) return exited;
      // Signal the peer itself, once. Through `timeout` it would get the signal
      // twice (timeout also signals its group), and a second SIGINT makes
      // ffmpeg abort its output instead of flushing the last frames.
      const pid = childPid(child);
      if (pid === undefined) killGroup(child, signal, false);
      else signalPid(pid, signal);
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), killAfterMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
  live.add(peer);
  return peer;
}

/** Stops every peer this process started and that still runs. */
export async function stopAllPeers(): Promise<void> {
  await Promise.all([...live].map((peer) => peer.stop()));
}

/**
 * `group`: signal the whole process group (SIGKILL, which `timeout` cannot
 * forward); otherwise only `timeout`, which forwards the signal to the peer.
 */
function killGroup(child: ChildProcess, signal: NodeJS.Signals, group = true): void {
  const pid = child.pid;
  if (pid === undefined) return;
  try {
    process.kill(group ? -pid : pid, signal);
  } catch {
    // already gone
  }
}

/** The pid of the peer itself (the child of its `timeout` wrapper), while it runs. */
export function peerPid(peer: PeerProcess): number | undefined {
  return childPid(peer.child);
}

function childPid(child: ChildProcess): number | undefined {
  const wrapper = child.pid;
  if (wrapper === undefined) return undefined;
  let text = '';
  try {
    text = readFileSync(`/proc/${wrapper}/task/${wrapper}/children`, 'utf8');
  } catch {
    text = spawnSync('pgrep', ['-P', String(wrapper)], { encoding: 'utf8' }).stdout;
  }
  const pid = Number.parseInt(text.trim().split(/\s+/)[0] ?? '', 10);
  return Number.isInteger(pid) ? pid : undefined;
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** True while some socket (of any process) is bound to UDP `port` on this machine. */
export function udpPortBound(port: number): boolean {
  return udpSockets().some((socket) => socket.port === port);
}

/** Waits until a process has bound UDP `port` (how we know a receiver is listening). */
export async function waitUdpBound(
  port: number,
  timeoutMs: number,
  describe: () => string = () => '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!udpPortBound(port)) {
    if (Date.now() > deadline) {
      throw new Error(`nothing bound UDP port ${port} within ${timeoutMs} ms ${describe()}`);
    }
    await sleep(10);
  }
}

/** An even UDP port P on 127.0.0.1 with P+1 free too (RTP and RTCP), free a moment ago. */
export async function freeUdpPortPair(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await freePort((candidate) => candidate % 2 === 0, { width: 2 });
    if (!udpPortBound(port + 1) && (await canBindUdp(port + 1))) return port;
  }
  throw new Error('no free even UDP port pair');
}

/** A UDP port on 127.0.0.1 that was free a moment ago (see ports.ts for where from). */
export async function freeUdpPort(): Promise<number> {
  return freePort();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
