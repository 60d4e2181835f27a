/**
 * List, then watch from the list's resourceVersion, for one kind of custom
 * object in one namespace — client-go's reflector, small. The watch is
 * resumed where it stopped (the last resourceVersion seen, bookmarks
 * included) when the API server ends it (timeoutSeconds) or the connection
 * drops; it lists again when the API server says the version is gone (410,
 * as an HTTP status or an ERROR event). Failures wait a jittered backoff, so
 * an API server that is down is not hammered, and never end the loop: a
 * control plane keeps serving what it has.
 *
 * The informer of @kubernetes/client-node is not used: it stops for good on
 * its first error and leaves the restart to its user.
 */
import { CustomObjectsApi, Watch, type KubeConfig } from '@kubernetes/client-node';
import { Backoff, type BackoffOptions } from '../../../shared/backoff.js';
import { errorMessage } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/log.js';
import { isRecord } from './kinds.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** Why a watch was started again: "closed" by the server, "gone" (410: listed again), or an "error". */
export type RestartReason = 'closed' | 'gone' | 'error';

export interface ListWatchOptions {
  readonly kubeConfig: KubeConfig;
  readonly group: string;
  readonly version: string;
  readonly namespace: string;
  readonly plural: string;
  /** After each list: every object there is (those not in it are gone). */
  readonly onList: (items: readonly unknown[]) => void;
  readonly onEvent: (type: WatchEventType, object: unknown) => void;
  readonly onRestart: (reason: RestartReason) => void;
  readonly log: Logger;
  readonly backoff?: BackoffOptions;
  /** The API server ends each watch after this (client-go picks 5-10 min). */
  readonly watchTimeoutSec?: number;
}

/** A watch that lasted this long was healthy: the backoff starts over. */
const HEALTHY_WATCH_MS = 10_000;

export class ListWatch {
  readonly #options: ListWatchOptions;
  readonly #api: CustomObjectsApi;
  readonly #watch: Watch;
  readonly #backoff: Backoff;
  #resourceVersion = '';
  #closed = false;
  #abort: AbortController | undefined;
  #wake: (() => void) | undefined;
  #running: Promise<void> | undefined;

  constructor(options: ListWatchOptions) {
    this.#options = options;
    this.#api = options.kubeConfig.makeApiClient(CustomObjectsApi);
    this.#watch = new Watch(options.kubeConfig);
    this.#backoff = new Backoff(options.backoff ?? { baseMs: 200, maxMs: 30_000 });
  }

  get #path(): string {
    const { group, version, namespace, plural } = this.#options;
    return `/apis/${group}/${version}/namespaces/${encodeURIComponent(namespace)}/${plural}`;
  }

  start(): void {
    this.#running ??= this.#loop();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#abort?.abort();
    this.#wake?.();
    await this.#running;
  }

  async #loop(): Promise<void> {
    while (!this.#closed) {
      const started = Date.now();
      let reason: RestartReason;
      try {
        if (this.#resourceVersion === '') await this.#list();
        reason = await this.#watchOnce();
      } catch (error) {
        reason = 'error';
        this.#options.log.warn(
          { resource: this.#path, reason: errorMessage(error) },
          'custom resources: list failed; retrying',
        );
      }
      // close() may have run while the watch was open.
      if (this.#isClosed()) break;
      this.#options.onRestart(reason);
      if (reason === 'gone') this.#resourceVersion = '';
      if (Date.now() - started >= HEALTHY_WATCH_MS) this.#backoff.reset();
      // A watch the server ended on time is resumed at once; anything else waits.
      if (reason !== 'closed' || Date.now() - started < HEALTHY_WATCH_MS) {
        await this.#sleep(this.#backoff.next());
      }
    }
  }

  #isClosed(): boolean {
    return this.#closed;
  }

  async #list(): Promise<void> {
    const { group, version, namespace, plural } = this.#options;
    const list: unknown = await this.#api.listNamespacedCustomObject({
      group,
      version,
      namespace,
      plural,
    });
    const items =
      isRecord(list) && Array.isArray(list['items']) ? (list['items'] as unknown[]) : [];
    const metadata = isRecord(list) && isRecord(list['metadata']) ? list['metadata'] : {};
    const version_ = metadata['resourceVersion'];
    this.#options.onList(items);
    this.#resourceVersion = typeof version_ === 'string' ? version_ : '';
  }

  /** Watches until the watch ends; resolves with why. */
  #watchOnce(): Promise<RestartReason> {
    if (this.#resourceVersion === '') return Promise.resolve('gone');
    return new Promise((resolve) => {
      let gone = false;
      const onEvent = (type: string, object: unknown): void => {
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
            { reason: errorMessage(error) },
            'custom resources: event not handled',
          );
        }
      };
      const onDone = (error: unknown): void => {
        this.#abort = undefined;
        const status = isRecord(error) ? (error['statusCode'] ?? error['code']) : undefined;
        if (gone || status === 410) resolve('gone');
        else if (error === null || error === undefined) resolve('closed');
        else {
          if (!this.#closed) {
            this.#options.log.warn(
              { resource: this.#path, reason: errorMessage(error) },
              'custom resources: watch failed; resuming',
            );
          }
          resolve('error');
        }
      };
      this.#watch
        .watch(
          this.#path,
          {
            resourceVersion: this.#resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: this.#options.watchTimeoutSec ?? 300 + Math.floor(Math.random() * 300),
          },
          onEvent,
          onDone,
        )
        .then(
          (abort) => {
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
