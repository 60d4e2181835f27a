/**
 * The thread side of a supervised worker thread (thread-handle.ts is the
 * other): its port to the thread that started it, the loop that answers each
 * request with a reply of its id, and the changes it prepared, kept until
 * their commit or abort.
 */
import { parentPort, type MessagePort } from 'node:worker_threads';
import { errorMessage } from '../errors.js';
import type { ThreadFailure, ThreadReply, ThreadRequest } from './messages.js';

/** This thread's port to the thread that started it; throws when `entry` runs on the main thread. */
export function threadPort(entry: string): MessagePort {
  if (parentPort === null) throw new Error(`${entry} runs as a worker thread only`);
  return parentPort;
}

export interface ServeOptions<Request extends ThreadRequest, Value, Resource> {
  /**
   * Answers a request; its rejection is sent back as a refusal. An async
   * function: it rejects, never throws.
   */
  handle(request: Request): Promise<Value>;
  /** The code of a refusal whose error has none (e.g. 'ERR_MEDIA_WORKER'). */
  readonly fallbackCode: string;
  /** The resources an error names as refused, sent with the refusal. */
  resourcesOf?(error: unknown): readonly Resource[] | undefined;
}

/**
 * Answers every request that comes in on `port` with `handle`'s value or
 * refusal. Once a 'close' is answered the port is closed: nothing else holds
 * the thread open once what it runs is closed, so it ends.
 */
export function serveRequests<Request extends ThreadRequest, Value, Resource = never>(
  port: MessagePort,
  options: ServeOptions<Request, Value, Resource>,
): void {
  port.on('message', (request: Request) => {
    options.handle(request).then(
      (value) => {
        const reply: ThreadReply<Value, Resource> = { id: request.id, ok: true, value };
        port.postMessage(reply);
        if (request.kind === 'close') port.close();
      },
      (error: unknown) => {
        const reply: ThreadReply<Value, Resource> = {
          id: request.id,
          ok: false,
          failure: failureOf(error, options.fallbackCode, options.resourcesOf?.(error)),
        };
        port.postMessage(reply);
      },
    );
  });
}

function failureOf<Resource>(
  error: unknown,
  fallbackCode: string,
  resources: readonly Resource[] | undefined,
): ThreadFailure<Resource> {
  const code =
    error !== null &&
    typeof error === 'object' &&
    typeof (error as { code?: unknown }).code === 'string'
      ? (error as { code: string }).code
      : fallbackCode;
  return { code, message: errorMessage(error), ...(resources === undefined ? {} : { resources }) };
}

/**
 * The changes a thread prepared, each kept under the id of the request that
 * prepared it until its commit or abort takes it.
 */
export class PreparedChanges<Change> {
  readonly #owner: string;
  readonly #changes = new Map<number, Change>();

  /** `owner` names the thread in the error of a take that finds nothing (e.g. 'l7 thread'). */
  constructor(owner: string) {
    this.#owner = owner;
  }

  keep(id: number, change: Change): void {
    this.#changes.set(id, change);
  }

  /** The change prepared under `id`, no longer kept; throws if there is none. */
  take(id: number): Change {
    const found = this.#changes.get(id);
    if (found === undefined) throw new Error(`${this.#owner}: no prepared change ${id}`);
    this.#changes.delete(id);
    return found;
  }
}
