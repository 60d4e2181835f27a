/**
 * The benchmark's own child processes (generator, receiver, minimal relay):
 * Node children over IPC, or the C load programs over a line protocol.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface Child {
  readonly pid: number;
  readonly process: ChildProcess;
  /** Sends `message` and resolves with the next reply of type `expect`. */
  request<T extends { type: string }>(
    message: object,
    expect: string,
    timeoutMs: number,
  ): Promise<T>;
  stop(): Promise<void>;
}

/** Forks `script` (a sibling module of this one) with one JSON argument; resolves when it is ready. */
export async function forkChild(
  script: string,
  argument: unknown,
  readyTimeoutMs = 10_000,
): Promise<Child> {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const child = fork(path, [JSON.stringify(argument)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<string, (message: { type: string }) => void>();
  child.on('message', (message: { type: string }) => {
    const resolve = waiting.get(message.type);
    waiting.delete(message.type);
    resolve?.(message);
  });
  const next = <T>(type: string, timeoutMs: number): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(type);
        reject(new Error(`${script}: no "${type}" reply within ${timeoutMs} ms`));
      }, timeoutMs);
      const onExit = (): void => {
        clearTimeout(timer);
        reject(new Error(`${script} exited while waiting for "${type}"`));
      };
      child.once('exit', onExit);
      waiting.set(type, (message) => {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(message as T);
      });
    });
  const ready = await next<{ pid: number }>('ready', readyTimeoutMs);
  return {
    pid: ready.pid,
    process: child,
    request<T extends { type: string }>(message: object, expect: string, timeoutMs: number) {
      const reply = next<T>(expect, timeoutMs);
      child.send(message);
      return reply;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * A C program of the benchmark (rtp-load gen|sink) behind the same
 * interface: one command per line on its stdin, one JSON line per answer
 * on its stdout ("run PPS MS", "reset", "collect", "exit"; see rtp-load.c).
 * It ends by itself at the end of its stdin, i.e. when this process goes.
 */
export async function spawnLineChild(
  binary: string,
  args: readonly string[],
  readyTimeoutMs = 10_000,
): Promise<Child> {
  const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const name = `${basename(binary)} ${args[0] ?? ''}`;
  const waiting = new Map<string, (message: { type: string }) => void>();
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    let message: { type: string };
    try {
      message = JSON.parse(line) as { type: string };
    } catch {
      process.stderr.write(`${name}: ${line}\n`);
      return;
    }
    const resolve = waiting.get(message.type);
    waiting.delete(message.type);
    resolve?.(message);
  });
  child.stdin.on('error', () => undefined);
  const next = <T>(type: string, timeoutMs: number): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(type);
        reject(new Error(`${name}: no "${type}" reply within ${timeoutMs} ms`));
      }, timeoutMs);
      const onExit = (): void => {
        clearTimeout(timer);
        reject(new Error(`${name} exited while waiting for "${type}"`));
      };
      child.once('exit', onExit);
      waiting.set(type, (message) => {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(message as T);
      });
    });
  const ready = await next<{ pid: number }>('ready', readyTimeoutMs);
  const command = (message: object): string => {
    const m = message as { type: string; ratePps?: number; durationMs?: number };
    return m.type === 'run' ? `run ${m.ratePps ?? 0} ${m.durationMs ?? 0}` : m.type;
  };
  return {
    pid: ready.pid,
    process: child,
    request<T extends { type: string }>(message: object, expect: string, timeoutMs: number) {
      const reply = next<T>(expect, timeoutMs);
      child.stdin.write(`${command(message)}\n`);
      return reply;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.stdin.end('exit\n');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
