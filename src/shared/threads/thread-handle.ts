/**
 * One running worker thread, seen from the thread that started it: requests
 * go out with an id and come back as promises; when the thread ends (it
 * crashed, exited, ran out of its heap, or was terminated) every request
 * still waiting is rejected and the owner is told once why. A subclass names
 * the thread's entry and the errors its callers see (refusal, end).
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { StreammeshError } from '../errors.js';
import type { RequestBody, ThreadFailure, ThreadReply, ThreadRequest } from './messages.js';

/** Why a thread ended: the restarts metrics' reason label. */
export type ThreadEnd = 'exited' | 'out_of_memory' | 'crashed' | 'unresponsive' | 'closed';

/**
 * The thread refused a request (prepare of a config, mostly), rebuilt from
 * plain data: same code and message, and the resources it named, so that a
 * resource the thread cannot build is NACKed by name as on one thread.
 */
export class ThreadRefusal<Resource> extends StreammeshError {
  /** Undefined when the thread's error named none (the node then matches names in the message). */
  readonly resources: readonly Resource[] | undefined;
  constructor(failure: ThreadFailure<Resource>) {
    super(failure.code, failure.message);
    this.resources = failure.resources;
  }
}

export interface ThreadHandleOptions {
  /** Given to the Worker as they are (workerData, resourceLimits...). */
  readonly worker: WorkerOptions;
  /**
   * The thread keeps the process alive only while a request waits for its
   * answer (default: always, as any Worker).
   */
  readonly refOnlyWhileWaiting?: boolean;
}

interface Waiting<Value> {
  resolve(value: Value): void;
  reject(error: Error): void;
}

export abstract class ThreadHandle<Request extends ThreadRequest, Value, Resource = never> {
  readonly #worker: Worker;
  readonly #refOnlyWhileWaiting: boolean;
  readonly #waiting = new Map<number, Waiting<Value>>();
  #onEnd: (end: ThreadEnd) => void;
  #nextId = 1;
  #end: ThreadEnd | undefined;
  #terminating: ThreadEnd | undefined;
  #lastUtilization: EventLoopUtilization | undefined;
  #lastAnswerAt: number | undefined;
  #endError: NodeJS.ErrnoException | undefined;
  /** When (performance.now()) the thread was started. */
  readonly startedAt = performance.now();

  /** Starts the thread at `entry`; `onEnd` is told once why it ended. */
  constructor(entry: URL, options: ThreadHandleOptions, onEnd: (end: ThreadEnd) => void) {
    this.#onEnd = onEnd;
    this.#refOnlyWhileWaiting = options.refOnlyWhileWaiting ?? false;
    this.#worker = new Worker(entry, options.worker);
    if (this.#refOnlyWhileWaiting) {
      this.#worker.unref();
      // Node refs the worker's port again when it comes online.
      this.#worker.once('online', () => {
        if (this.#waiting.size === 0) this.#worker.unref();
      });
    }
    this.#worker.on('message', (reply: ThreadReply<Value, Resource>) => {
      this.#lastAnswerAt = performance.now();
      this.#settle(reply);
    });
    this.#worker.on('error', (thrown: NodeJS.ErrnoException) => {
      this.#endError = thrown;
    });
    this.#worker.once('exit', () => {
      const error = this.#endError;
      const end: ThreadEnd =
        this.#terminating ??
        (error === undefined
          ? 'exited'
          : error.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? 'out_of_memory'
            : 'crashed');
      this.#end = end;
      for (const waiting of this.#waiting.values()) waiting.reject(this.endedError(end));
      this.#waiting.clear();
      this.#onEnd(end);
    });
  }

  /** The error a request is rejected with when the thread refused it. */
  protected abstract refusal(failure: ThreadFailure<Resource>): Error;

  /** The error a request is rejected with when the thread ended (`end`) before it answered. */
  protected abstract endedError(end: ThreadEnd): Error;

  /** From now on `onEnd`, not the one given at start, is told of the thread's end. */
  protected setOnEnd(onEnd: (end: ThreadEnd) => void): void {
    this.#onEnd = onEnd;
  }

  get ended(): boolean {
    return this.#end !== undefined;
  }

  /**
   * What the thread threw that ended it (an uncaught exception, or running
   * out of its heap); undefined while it runs or when it ended otherwise.
   * Node tells only the Worker's owner, so it is lost unless the owner logs it.
   */
  get endError(): Error | undefined {
    return this.#endError;
  }

  /**
   * When (performance.now()) the thread last answered any request; undefined
   * until its first answer. Any answer shows its event loop ran then.
   */
  get lastAnswerAt(): number | undefined {
    return this.#lastAnswerAt;
  }

  /**
   * How long the thread has been silent (ms): since its last answer, or since
   * `since` (its start, or when its owner put it to use) if that is later.
   */
  silentMs(since: number = this.startedAt): number {
    return performance.now() - Math.max(since, this.#lastAnswerAt ?? since);
  }

  /** Sends a request; resolves with the thread's answer, or rejects with its refusal or its end. */
  call(body: RequestBody<Request>): Promise<Value> {
    if (this.#end !== undefined) return Promise.reject(this.endedError(this.#end));
    const id = this.#nextId++;
    return new Promise<Value>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      if (this.#refOnlyWhileWaiting && this.#waiting.size === 1) this.#worker.ref();
      const request = { ...body, id } as unknown as Request;
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

  /**
   * Asks the thread to close what it runs ('close'), then ends it: at once
   * once it answered (or refused), after `timeoutMs` if it does not answer.
   * The end reported is 'closed'.
   */
  async close(timeoutMs: number): Promise<void> {
    if (this.#end !== undefined) return;
    const timer = setTimeout(() => void this.terminate('closed'), timeoutMs);
    try {
      await this.call({ kind: 'close' } as RequestBody<Request>);
    } catch {
      // Ended already, or terminated by the timer: nothing left to close.
    } finally {
      clearTimeout(timer);
      await this.terminate('closed');
    }
  }

  #settle(reply: ThreadReply<Value, Resource>): void {
    const waiting = this.#waiting.get(reply.id);
    if (waiting === undefined) return;
    this.#waiting.delete(reply.id);
    if (this.#refOnlyWhileWaiting && this.#waiting.size === 0) this.#worker.unref();
    if (reply.ok) waiting.resolve(reply.value);
    else waiting.reject(this.refusal(reply.failure));
  }
}
