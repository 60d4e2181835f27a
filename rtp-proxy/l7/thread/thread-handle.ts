/**
 * One running L7 thread, seen from the main thread: requests go out with an
 * id and come back as promises; when the thread ends (it exited, ran out of
 * its heap, or was terminated), every request still waiting is rejected and
 * the owner is told once why.
 */
import { Worker } from 'node:worker_threads';
import type { EventLoopUtilization } from 'node:perf_hooks';
import type { RefusedResource } from '../../../src/config/index.js';
import { StreammeshError } from '../../../src/shared/errors.js';
import type { L7Reply, L7Request, L7ThreadData, L7Value, ThreadFailure } from './messages.js';

/** Why a thread ended: the restarts metric's reason label. */
export type ThreadEnd = 'exited' | 'out_of_memory' | 'crashed' | 'unresponsive' | 'closed';

/** The thread refused a request (prepare of a config, mostly); keeps the resources it named. */
export class L7ThreadRefusal extends StreammeshError {
  readonly resources: readonly RefusedResource[] | undefined;
  constructor(failure: ThreadFailure) {
    super(failure.code, failure.message);
    this.resources = failure.resources;
  }
}

/** The thread ended before it answered. */
export class L7ThreadEndedError extends StreammeshError {
  constructor(end: ThreadEnd) {
    super('ERR_L7_THREAD_ENDED', `l7 thread ended (${end}) before it answered`);
  }
}

type RequestBody = L7Request extends infer R
  ? R extends L7Request
    ? Omit<R, 'id'>
    : never
  : never;

interface Waiting {
  resolve(value: L7Value): void;
  reject(error: Error): void;
}

export interface ThreadLimits {
  /** Old-generation heap of the thread's isolate; exhausting it ends the thread, not the process. */
  readonly heapMb: number;
}

export class L7ThreadHandle {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, Waiting>();
  #nextId = 1;
  #end: ThreadEnd | undefined;
  #terminating: ThreadEnd | undefined;
  #lastUtilization: EventLoopUtilization | undefined;

  constructor(data: L7ThreadData, limits: ThreadLimits, onEnd: (end: ThreadEnd) => void) {
    this.#worker = new Worker(new URL('./l7-thread.js', import.meta.url), {
      workerData: data,
      resourceLimits: { maxOldGenerationSizeMb: limits.heapMb },
    });
    let error: NodeJS.ErrnoException | undefined;
    this.#worker.on('message', (reply: L7Reply) => {
      this.#settle(reply);
    });
    this.#worker.on('error', (thrown: NodeJS.ErrnoException) => {
      error = thrown;
    });
    this.#worker.once('exit', () => {
      const end: ThreadEnd =
        this.#terminating ??
        (error === undefined
          ? 'exited'
          : error.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? 'out_of_memory'
            : 'crashed');
      this.#end = end;
      for (const waiting of this.#waiting.values()) waiting.reject(new L7ThreadEndedError(end));
      this.#waiting.clear();
      onEnd(end);
    });
  }

  get ended(): boolean {
    return this.#end !== undefined;
  }

  /** Sends a request; resolves with the thread's answer, or rejects with its refusal or its end. */
  call(body: RequestBody): Promise<L7Value> {
    if (this.#end !== undefined) return Promise.reject(new L7ThreadEndedError(this.#end));
    const id = this.#nextId++;
    return new Promise<L7Value>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      const request: L7Request = { ...body, id };
      this.#worker.postMessage(request);
    });
  }

  /** Share of time the thread's event loop was busy since the last call (0-1). */
  utilization(): number {
    const now = this.#worker.performance.eventLoopUtilization();
    const since =
      this.#lastUtilization === undefined
        ? now
        : this.#worker.performance.eventLoopUtilization(now, this.#lastUtilization);
    this.#lastUtilization = now;
    return since.utilization;
  }

  /** Stops the thread now, whatever it is doing; `end` is the reason reported. */
  async terminate(end: ThreadEnd): Promise<void> {
    if (this.#end !== undefined) return;
    this.#terminating ??= end;
    await this.#worker.terminate();
  }

  #settle(reply: L7Reply): void {
    const waiting = this.#waiting.get(reply.id);
    if (waiting === undefined) return;
    this.#waiting.delete(reply.id);
    if (reply.ok) waiting.resolve(reply.value);
    else waiting.reject(new L7ThreadRefusal(reply.failure));
  }
}
