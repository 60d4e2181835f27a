/**
 * List, then watch from the list's resourceVersion: the loop behind every
 * discovery source (client-go's reflector, reduced to what they need).
 *
 * Each list hands over the whole set (`onList`), so whatever changed while
 * no watch was open (a deletion included) is seen; each watch event hands
 * over one object (`onEvent`). A watch that ends for any reason (410 Gone,
 * the server's timeout, a dropped connection, a refused request) is
 * followed by a new list after a backoff with jitter, reset once a watch
 * delivered an event or stayed open a while, so a flapping API server is
 * not hammered while a healthy one is back within the base delay.
 *
 * The objects are handed over as the client gives them (the typed API's
 * models from a list, parsed JSON from a watch: the same field names) and
 * typed `unknown`: the sources check every field they use, as they would
 * any network input.
 */
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { Backoff } from '../../../shared/backoff.js';
import { errorMessage } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/log.js';

/** A watch open this long before it ended counts as healthy: the next list is not delayed further. */
const HEALTHY_WATCH_MS = 10_000;

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ListedObjects {
  readonly items: readonly unknown[];
  readonly resourceVersion: string;
}

export interface ListWatchOptions {
  readonly kubeConfig: KubeConfig;
  /** The collection's API path, e.g. /apis/discovery.k8s.io/v1/namespaces/web/endpointslices. */
  readonly path: string;
  readonly labelSelector: string;
  /** One list of the collection, with the same selector. */
  readonly list: () => Promise<ListedObjects>;
  readonly onList: (items: readonly unknown[]) => void;
  readonly onEvent: (type: WatchEventType, object: unknown) => void;
  readonly log: Logger;
  readonly backoff?: Backoff;
}

export class ListWatch {
  readonly #options: ListWatchOptions;
  readonly #backoff: Backoff;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #abort: AbortController | undefined;

  constructor(options: ListWatchOptions) {
    this.#options = options;
    this.#backoff = options.backoff ?? new Backoff({ baseMs: 200, maxMs: 30_000 });
  }

  start(): void {
    void this.#cycle();
  }

  #isClosed(): boolean {
    return this.#closed;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#abort?.abort();
  }

  async #cycle(): Promise<void> {
    if (this.#closed) return;
    let listed: ListedObjects;
    try {
      listed = await this.#options.list();
    } catch (error) {
      // Not reaching the API server, or not allowed to list (RBAC): worth a warning.
      this.#retry(`list failed: ${errorMessage(error)}`, 'warn');
      return;
    }
    // close() may have run during the await.
    if (this.#isClosed()) return;
    this.#options.onList(listed.items);
    let ended = false;
    const watchedSince = Date.now();
    const end = (reason: string): void => {
      if (ended) return;
      ended = true;
      this.#abort?.abort();
      // A watch the server closed after its timeout was a healthy one.
      if (Date.now() - watchedSince > HEALTHY_WATCH_MS) this.#backoff.reset();
      this.#retry(reason);
    };
    try {
      this.#abort = await new Watch(this.#options.kubeConfig).watch(
        this.#options.path,
        {
          labelSelector: this.#options.labelSelector,
          resourceVersion: listed.resourceVersion,
        },
        (type: string, object: unknown) => {
          if (ended || this.#closed) return;
          if (type === 'ERROR') {
            // A Status: 410 Gone when the resourceVersion is too old to watch from.
            end(`watch error ${statusCode(object)}`);
            return;
          }
          if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
            this.#backoff.reset();
            this.#options.onEvent(type, object);
          }
        },
        (error: unknown) => {
          if (this.#closed) return;
          end(error === null || error === undefined ? 'watch ended' : errorMessage(error));
        },
      );
      if (this.#isClosed()) this.#abort.abort();
    } catch (error) {
      end(errorMessage(error));
    }
  }

  #retry(reason: string, level: 'info' | 'warn' = 'info'): void {
    if (this.#closed) return;
    const delayMs = this.#backoff.next();
    this.#options.log[level]({ path: this.#options.path, reason, delayMs }, 'kubernetes re-list');
    this.#timer = setTimeout(() => void this.#cycle(), delayMs);
  }
}

function statusCode(object: unknown): string {
  const code = (object as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? String(code) : 'without a code';
}
