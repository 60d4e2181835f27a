/**
 * One running media worker, seen from the main thread: a supervised thread
 * (src/shared/threads: requests with ids, the end reason, utilization) that
 * keeps the process alive only while a request waits, may start as a spare
 * and later adopt a worker's index, and names that index in its errors.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { RefusedResource } from '../../../src/config/index.js';
import { StreammeshError } from '../../../src/shared/errors.js';
import { ThreadHandle, ThreadRefusal, type ThreadEnd } from '../../../src/shared/threads/index.js';
import type {
  MediaWorkerData,
  MediaWorkerRequest,
  MediaWorkerValue,
  WorkerFailure,
} from './messages.js';

/** Why a worker ended: the restarts metric's reason label. */
export type WorkerEnd = ThreadEnd;

/**
 * The worker refused a request (prepare of a config, mostly), rebuilt from
 * plain data: same code and message, and the resources it named, so that a
 * route the worker cannot build is NACKed by name as on one thread.
 */
export class MediaWorkerRefusal extends ThreadRefusal<RefusedResource> {
  readonly worker: number;
  constructor(worker: number, failure: WorkerFailure) {
    super(failure);
    this.worker = worker;
  }
}

/** The worker ended before it answered. */
export class MediaWorkerEndedError extends StreammeshError {
  constructor(worker: number, end: WorkerEnd) {
    super('ERR_MEDIA_WORKER_ENDED', `media worker ${worker} ended (${end}) before it answered`);
  }
}

export class MediaWorkerHandle extends ThreadHandle<
  MediaWorkerRequest,
  MediaWorkerValue,
  RefusedResource
> {
  /** Its worker index; -1 while it is a spare. */
  #index: number;
  /** Main's end of the thread's channel for RTSP viewer tracks. */
  readonly viewers: MessagePort;

  constructor(data: Omit<MediaWorkerData, 'viewers'>, onEnd: (end: WorkerEnd) => void) {
    // Each thread its own channel: a successor's is new, the dead one's closes with it.
    const channel = new MessageChannel();
    // A worker alone does not keep the process alive (a proxy that fails to
    // start after its workers did must still exit); a request waiting for
    // its answer does.
    super(
      new URL('./media-worker.js', import.meta.url),
      {
        worker: {
          workerData: { ...data, viewers: channel.port2 } satisfies MediaWorkerData,
          transferList: [channel.port2],
        },
        refOnlyWhileWaiting: true,
      },
      onEnd,
    );
    this.viewers = channel.port1;
    this.viewers.unref();
    this.#index = data.index ?? -1;
  }

  get index(): number {
    return this.#index;
  }

  /** Makes this spare worker `index`; `onEnd` is told of its end from now on. */
  async adopt(index: number, onEnd: (end: WorkerEnd) => void): Promise<void> {
    this.#index = index;
    this.setOnEnd(onEnd);
    await this.call({ kind: 'adopt', index });
  }

  protected refusal(failure: WorkerFailure): Error {
    return new MediaWorkerRefusal(this.#index, failure);
  }

  protected endedError(end: WorkerEnd): Error {
    return new MediaWorkerEndedError(this.#index, end);
  }
}
