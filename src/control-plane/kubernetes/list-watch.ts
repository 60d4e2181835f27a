/**
 * List, then watch from the list's resourceVersion, for one collection
 * (custom objects of a kind, a Service's EndpointSlices, the mesh's Pods) —
 * client-go's reflector, small; every Kubernetes source uses this one loop.
 * The watch is resumed where it stopped (the last resourceVersion seen,
 * bookmarks included) when the API server ends it (timeoutSeconds) or the
 * connection drops; it lists again when the API server says the version is
 * gone (410, as an HTTP status or an ERROR event). Each list hands over the
 * whole set (`onList`), so a deletion missed meanwhile is seen. Failures
 * wait a jittered backoff, so an API server that is down is not hammered,
 * and never end the loop: a control plane keeps serving what it has. A
 * watch silent for longer than the server's own timeout (a connection lost
 * without a FIN, which TCP keepalive notices only after minutes) is aborted.
 *
 * `firstList` resolves once the first list was handed over (or on close):
 * a source's starter waits for it (initial-lists.ts), so the control plane
 * does not serve nodes a config without what the API server holds.
 *
 * Objects are typed `unknown` (a list's items may be the client's typed
 * models, a watch's are parsed JSON: the same field names): the sources
 * check every field they use, as they would any network input.
 *
 * The informer of @kubernetes/client-node is not used: it stops for good on
 * its first error and leaves the restart to its user.
 */
import { CustomObjectsApi, Watch, type KubeConfig } from '@kubernetes/client-node';
import { Backoff, type BackoffOptions } from '../../shared/backoff.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** Why a watch was started again: "closed" by the server, "gone" (410: listed again), or an "error". */
export type RestartReason = 'closed' | 'gone' | 'error';

export type WatchParams = Readonly<Record<string, string | number | boolean>>;

/** The two calls a ListWatch makes; apiWatchClient makes them on the API server. */
export interface WatchClient {
  /** The resource, for logs. */
  readonly path: string;
  list(): Promise<unknown>;
  /** As @kubernetes/client-node's Watch.watch: `onDone` once, with an error or null. */
  watch(
    params: WatchParams,
    onEvent: (type: string, object: unknown) => void,
    onDone: (error: unknown) => void,
  ): Promise<AbortController>;
}

/**
 * A WatchClient for the collection at `path` (e.g.
 * /apis/discovery.k8s.io/v1/namespaces/web/endpointslices): `list` lists it
 * with the same `query` (a labelSelector) the watch is given.
 */
export function collectionWatchClient(
  kubeConfig: KubeConfig,
  path: string,
  list: () => Promise<unknown>,
  query: WatchParams = {},
): WatchClient {
  const watch = new Watch(kubeConfig);
  return {
    path,
    list,
    watch: (params, onEvent, onDone) => watch.watch(path, { ...query, ...params }, onEvent, onDone),
  };
}

/** The WatchClient of one kind of custom object in one namespace. */
export function apiWatchClient(
  kubeConfig: KubeConfig,
  resource: { group: string; version: string; namespace: string; plural: string },
): WatchClient {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const { group, version, namespace, plural } = resource;
  const path = `/apis/${group}/${version}/namespaces/${encodeURIComponent(namespace)}/${plural}`;
  return collectionWatchClient(kubeConfig, path, () =>
    api.listNamespacedCustomObject({ group, version, namespace, plural }),
  );
}

export interface ListWatchOptions {
  readonly client: WatchClient;
  /** After each list: every object there is (those not in it are gone). */
  readonly onList: (items: readonly unknown[]) => void;
  readonly onEvent: (type: WatchEventType, object: unknown) => void;
  readonly onRestart?: (reason: RestartReason) => void;
  readonly log: Logger;
  readonly backoff?: BackoffOptions;
  /** The API server ends each watch after this; default 5-10 min, as client-go. */
  readonly watchTimeoutSec?: number;
  /** Past the server's timeout, how long a silent watch is given before it is aborted; default 30 s. */
  readonly silenceGraceMs?: number;
}

const CLOSED = Symbol('closed');

/** A watch that lasted this long was healthy: the backoff starts over. */
const HEALTHY_WATCH_MS = 10_000;
/** Past the server's timeout, how long a silent watch is given before it is aborted. */
const SILENCE_GRACE_MS = 30_000;

export class ListWatch {
  readonly #options: ListWatchOptions;
  readonly #client: WatchClient;
  readonly #backoff: Backoff;
  #resourceVersion = '';
  #closed = false;
  #abort: AbortController | undefined;
  #wake: (() => void) | undefined;
  #running: Promise<void> | undefined;
  /** Resolves on close(): a list the API server never answers does not hold close() up. */
  readonly #closing: Promise<typeof CLOSED>;
  #onClose: (() => void) | undefined;
  #firstListed: (() => void) | undefined;
  /** Resolves once the first list was handed to onList, or on close. */
  readonly firstList: Promise<void>;

  constructor(options: ListWatchOptions) {
    this.#options = options;
    this.#client = options.client;
    this.#backoff = new Backoff(options.backoff ?? { baseMs: 200, maxMs: 30_000 });
    this.firstList = new Promise((resolve) => {
      this.#firstListed = resolve;
    });
    this.#closing = new Promise((resolve) => {
      this.#onClose = () => resolve(CLOSED);
    });
  }

  start(): void {
    this.#running ??= this.#loop();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#onClose?.();
    this.#firstListed?.();
    this.#abort?.abort();
    this.#wake?.();
    await this.#running;
  }

  #isClosed(): boolean {
    return this.#closed;
  }

  async #loop(): Promise<void> {
    while (!this.#closed) {
      const started = Date.now();
      let reason: RestartReason;
      try {
        if (this.#resourceVersion === '') await this.#list();
        if (this.#isClosed()) break;
        reason = await this.#watchOnce();
      } catch (error) {
        reason = 'error';
        this.#options.log.warn(
          { resource: this.#client.path, reason: errorMessage(error) },
          'kubernetes: list failed; retrying',
        );
      }
      // close() may have run while the watch was open.
      if (this.#isClosed()) break;
      this.#options.onRestart?.(reason);
      if (reason === 'gone') this.#resourceVersion = '';
      const healthy = Date.now() - started >= HEALTHY_WATCH_MS;
      if (healthy) this.#backoff.reset();
      // A watch the server ended after a healthy run is resumed at once; anything else waits.
      if (reason !== 'closed' || !healthy) await this.#sleep(this.#backoff.next());
    }
  }

  async #list(): Promise<void> {
    const list = await Promise.race([this.#client.list(), this.#closing]);
    if (list === CLOSED) return;
    const items =
      isRecord(list) && Array.isArray(list['items']) ? (list['items'] as unknown[]) : [];
    const metadata = isRecord(list) && isRecord(list['metadata']) ? list['metadata'] : {};
    const listed = metadata['resourceVersion'];
    this.#options.onList(items);
    this.#resourceVersion = typeof listed === 'string' ? listed : '';
    this.#firstListed?.();
  }

  /** Watches until the watch ends; resolves with why. */
  #watchOnce(): Promise<RestartReason> {
    if (this.#resourceVersion === '') return Promise.resolve('gone');
    const timeoutSec = this.#options.watchTimeoutSec ?? 300 + Math.floor(Math.random() * 300);
    return new Promise((resolve) => {
      let gone = false;
      let ended = false;
      let silence: NodeJS.Timeout | undefined;
      const heard = (): void => {
        clearTimeout(silence);
        silence = setTimeout(
          () => this.#abort?.abort(),
          timeoutSec * 1000 + (this.#options.silenceGraceMs ?? SILENCE_GRACE_MS),
        );
        silence.unref();
      };
      const onEvent = (type: string, object: unknown): void => {
        heard();
        try {
          if (type === 'ERROR') {
            // A Status: 410 means the version is too old to resume from.
            if (isRecord(object) && object['code'] === 410) gone = true;
            return;
          }
          const version =
            isRecord(object) && isRecord(object['metadata'])
              ? object['metadata']['resourceVersion']
              : undefined;
          if (typeof version === 'string' && version !== '') this.#resourceVersion = version;
          if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
            this.#options.onEvent(type, object);
          }
        } catch (error) {
          // One object must not end the watch of all the others.
          this.#options.log.error(
            { resource: this.#client.path, reason: errorMessage(error) },
            'kubernetes: watch event not handled',
          );
        }
      };
      const onDone = (error: unknown): void => {
        if (ended) return;
        ended = true;
        clearTimeout(silence);
        this.#abort = undefined;
        const status = isRecord(error) ? (error['statusCode'] ?? error['code']) : undefined;
        if (gone || status === 410) resolve('gone');
        else if (error === null || error === undefined) resolve('closed');
        else {
          if (!this.#closed) {
            this.#options.log.warn(
              { resource: this.#client.path, reason: errorMessage(error) },
              'kubernetes: watch failed; resuming',
            );
          }
          resolve('error');
        }
      };
      heard();
      this.#client
        .watch(
          {
            resourceVersion: this.#resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: timeoutSec,
          },
          onEvent,
          onDone,
        )
        .then(
          (abort) => {
            if (ended) return;
            if (this.#closed) abort.abort();
            else this.#abort = abort;
          },
          (error: unknown) => {
            onDone(error ?? new Error('watch failed'));
          },
        );
    });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.#closed) {
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
