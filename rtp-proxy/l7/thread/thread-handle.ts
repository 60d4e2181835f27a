/**
 * One running L7 thread, seen from the main thread: a supervised thread
 * (src/shared/threads: requests with ids, every waiting request rejected
 * when it ends, the end reason, utilization) started with a heap limit of
 * its own.
 */
import type { RefusedResource } from '../../../src/config/index.js';
import { StreammeshError } from '../../../src/shared/errors.js';
import { ThreadHandle, ThreadRefusal, type ThreadEnd } from '../../../src/shared/threads/index.js';
import type { L7Request, L7ThreadData, L7Value, ThreadFailure } from './messages.js';

/** Why a thread ended: the restarts metric's reason label. */
export type { ThreadEnd };

/** The thread refused a request (prepare of a config, mostly); keeps the resources it named. */
export class L7ThreadRefusal extends ThreadRefusal<RefusedResource> {}

/** The thread ended before it answered. */
export class L7ThreadEndedError extends StreammeshError {
  constructor(end: ThreadEnd) {
    super('ERR_L7_THREAD_ENDED', `l7 thread ended (${end}) before it answered`);
  }
}

export interface ThreadLimits {
  /** Old-generation heap of the thread's isolate; exhausting it ends the thread, not the process. */
  readonly heapMb: number;
}

export class L7ThreadHandle extends ThreadHandle<L7Request, L7Value, RefusedResource> {
  constructor(data: L7ThreadData, limits: ThreadLimits, onEnd: (end: ThreadEnd) => void) {
    super(
      new URL('./l7-thread.js', import.meta.url),
      { worker: { workerData: data, resourceLimits: { maxOldGenerationSizeMb: limits.heapMb } } },
      onEnd,
    );
  }

  protected refusal(failure: ThreadFailure): Error {
    return new L7ThreadRefusal(failure);
  }

  protected endedError(end: ThreadEnd): Error {
    return new L7ThreadEndedError(end);
  }
}
