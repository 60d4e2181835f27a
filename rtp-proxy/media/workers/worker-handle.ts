/**
 * One running media worker, seen from the main thread: requests go out with
 * an id and come back as promises; when the worker ends (it crashed, exited,
 * or was terminated) every request still waiting is rejected and the owner
 * is told once why.
 */
import { Worker } from 'node:worker_threads';
import type { EventLoopUtilization } from 'node:perf_hooks';
import type { RefusedResource } from '../../../src/config/index.js';
import { StreammeshError } from '../../../src/shared/errors.js';
import type {
  MediaWorkerData,
  MediaWorkerReply,
  MediaWorkerRequest,
  MediaWorkerValue,
  WorkerFailure,
} from './messages.js';

/** Why a worker ended: the restarts metric's reason label. */
export type WorkerEnd = 'exited' | 'out_of_memory' | 'crashed' | 'unresponsive' | 'closed';

/**
 * The worker refused a request (prepare of a config, mostly), rebuilt from
 * plain data: same code and message, and the resources it named, so that a
 * route the worker cannot build is NACKed by name as on one thread.
 */
export class MediaWorkerRefusal extends StreammeshError {
  /** Undefined when the worker's error named none (the node then matches names in the message). */
  readonly resources: readonly RefusedResource[] | undefined;
  readonly worker: number;
  constructor(worker: number, failure: WorkerFailure) {
    super(failure.code, failure.message);
    this.worker = worker;
    this.resources = failure.resources;
  }
}

/** The worker ended before it answered. */
export class MediaWorkerEndedError extends StreammeshError {
  constructor(worker: number, end: WorkerEnd) {
    super('ERR_MEDIA_WORKER_ENDED', `media worker ${worker} ended (${end}) before it answered`);
  }
}

type RequestBody = MediaWorkerRequest extends infer R
  ? R extends MediaWorkerRequest
    ? Omit<R, 'id'>
    : never
  : never;

interface Waiting {
  resolve(value: MediaWorkerValue): void;
  reject(error: Error): void;
}

export class MediaWorkerHandle {
  /** Its worker index; -1 while it is a spare. */
  #index: number;
  #onEnd: (end: WorkerEnd) => void;
  readonly #worker: Worker;
  readonly #waiting = new Map<number, Waiting>();
  #nextId = 1;
  #end: WorkerEnd | undefined;
  #terminating: WorkerEnd | undefined;
  #lastUtilization: EventLoopUtilization | undefined;

  constructor(data: MediaWorkerData, onEnd: (end: WorkerEnd) => void) {
    this.#index = data.index ?? -1;
    this.#onEnd = onEnd;
    this.#worker = new Worker(new URL('./media-worker.js', import.meta.url), { workerData: data });
    // A worker alone does not keep the process alive (a proxy that fails to
    // start after its workers did must still exit); a request waiting for
    // its answer does.
    this.#worker.unref();
    // Node refs the worker's port again when it comes online.
    this.#worker.once('online', () => {
      if (this.#waiting.size === 0) this.#worker.unref();
    });
    let error: NodeJS.ErrnoException | undefined;
    this.#worker.on('message', (reply: MediaWorkerReply) => {
      this.#settle(reply);
    });
    this.#worker.on('error', (thrown: NodeJS.ErrnoException) => {
      error = thrown;
    });
    this.#worker.once('exit', () => {
      const end: WorkerEnd =
        this.#terminating ??
        (error === undefined
          ? 'exited'
          : error.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? 'out_of_memory'
            : 'crashed');
      this.#end = end;
      for (const waiting of this.#waiting.values()) {
        waiting.reject(new MediaWorkerEndedError(this.#index, end));
      }
      this.#waiting.clear();
      this.#onEnd(end);
    });
  }

  get index(): number {
    return this.#index;
  }

  /** Makes this spare worker `index`; `onEnd` is told of its end from now on. */
  async adopt(index: number, onEnd: (end: WorkerEnd) => void): Promise<void> {
    this.#index = index;
    this.#onEnd = onEnd;
    await this.call({ kind: 'adopt', index });
  }

  get ended(): boolean {
    return this.#end !== undefined;
  }

  /** Sends a request; resolves with the worker's answer, or rejects with its refusal or its end. */
  call(body: RequestBody): Promise<MediaWorkerValue> {
    if (this.#end !== undefined) {
      return Promise.reject(new MediaWorkerEndedError(this.#index, this.#end));
    }
    const id = this.#nextId++;
    return new Promise<MediaWorkerValue>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      if (this.#waiting.size === 1) this.#worker.ref();
      const request: MediaWorkerRequest = { ...body, id };
      this.#worker.postMessage(request);
    });
  }

  /** Share of time the worker's event loop was busy since the last call (0-1). */
  utilization(): number {
    const now = this.#worker.performance.eventLoopUtilization();
    const since =
      this.#lastUtilization === undefined
        ? now
        : this.#worker.performance.eventLoopUtilization(now, this.#lastUtilization);
    this.#lastUtilization = now;
    return since.utilization;
  }

  /** Stops the worker now, whatever it is doing; `end` is the reason reported. */
  async terminate(end: WorkerEnd): Promise<void> {
    if (this.#end !== undefined) return;
    this.#terminating ??= end;
    await this.#worker.terminate();
  }

  #settle(reply: MediaWorkerReply): void {
    const waiting = this.#waiting.get(reply.id);
    if (waiting === undefined) return;
    this.#waiting.delete(reply.id);
    if (this.#waiting.size === 0) this.#worker.unref();
    if (reply.ok) waiting.resolve(reply.value);
    else waiting.reject(new MediaWorkerRefusal(this.#index, reply.failure));
  }
}
