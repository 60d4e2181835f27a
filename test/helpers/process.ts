/**
 * Runs the real `streammesh` command as a child process and watches its
 * output, the way a user or an init system would.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
export const binPath = join(repoRoot, 'bin', 'streammesh.js');

export interface Result {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command that ends by itself (`config validate`, a bad `up`). */
export async function runStreammesh(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  timeoutMs = 15_000,
): Promise<Result> {
  const child = spawn(process.execPath, [binPath, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collect(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { code, signal, stdout: output.stdout(), stderr: output.stderr() };
}

export interface Running {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout (checked as output arrives). */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Sends a signal and resolves with the exit code and the time it took. */
  stop(signal: NodeJS.Signals, timeoutMs: number): Promise<{ code: number | null; ms: number }>;
}

/**
 * Starts a long-running command (`up`, a single role). `prefix` runs it
 * through a command that execs node in turn (`ip netns exec <ns>`), so the
 * child's pid is still streammesh's own and stop() signals it directly.
 */
export function startStreammesh(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  prefix: readonly string[] = [],
): Running {
  const [command, ...commandArgs] = [...prefix, process.execPath, binPath, ...args];
  const child = spawn(command ?? process.execPath, commandArgs, {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collect(child);
  return {
    child,
    stdout: () => output.stdout(),
    stderr: () => output.stderr(),
    waitForOutput(pattern, timeoutMs) {
      return waitFor(
        () => output.stdout().match(pattern) ?? undefined,
        timeoutMs,
        () => `no ${pattern} in output:\n${output.stdout()}\n${output.stderr()}`,
      );
    },
    async stop(signal, timeoutMs) {
      const started = Date.now();
      if (child.exitCode !== null || child.signalCode !== null) {
        return { code: child.exitCode, ms: 0 };
      }
      const exited = once(child, 'exit');
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const [code] = (await exited) as [number | null];
      clearTimeout(timer);
      return { code, ms: Date.now() - started };
    },
  };
}

function collect(child: ChildProcess): { stdout(): string; stderr(): string } {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return { stdout: () => stdout, stderr: () => stderr };
}

/** Polls `probe` until it returns a value, or fails with `describe()` after the timeout. */
export async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  describe: () => string = () => 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** `promise`'s value, or a failure saying `what` did not happen within `timeoutMs`. */
export async function settleWithin<T>(
  promise: Promise<T>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`not within ${Math.round(timeoutMs)} ms: ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** True while a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The children of a process (`up`'s roles), by pid. */
export function childPids(parent: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(parent)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when there are none
  }
}

/** The process group and session of a process, from /proc/<pid>/stat (after the command's name). */
export function processGroups(pid: number): { group: number; session: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const [, , group, session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { group: Number(group), session: Number(session) };
}

const READY_LINE = /^(control-plane|proxy|signaling) +ready +(http:\/\/\S+)$/gm;

/** The admin URL of each role that `up` printed a ready line for, by role. */
function readyUrls(output: string): Map<string, string> {
  return new Map([...output.matchAll(READY_LINE)].map((match) => [match[1] ?? '', match[2] ?? '']));
}

/** Waits for `up`'s ready line of each of its three roles; their admin URLs by role. */
export function waitAllRolesReady(up: Running, timeoutMs: number): Promise<Map<string, string>> {
  return waitFor(
    () => {
      const found = readyUrls(up.stdout());
      return found.size === 3 ? found : undefined;
    },
    timeoutMs,
    () => `three ready lines, got:\n${up.stdout()}\n${up.stderr()}`,
  );
}
