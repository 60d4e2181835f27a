/**
 * The listeners of one held resource set (pipes.ts, signaling-nodes.ts),
 * told the whole set after each commit that changed it. A listener runs
 * inside the config update's commit: if its exception escaped, the node
 * would NACK an update it has already put in force. So, as mediasoup's
 * safeEmit does, an exception stops at the listener and is reported (a bug
 * of the listener, not of the update).
 */
export type ChangeListener<T> = (current: T) => void;

export class ChangeListeners<T> {
  readonly #listeners = new Set<ChangeListener<T>>();
  readonly #onError: (error: unknown) => void;

  constructor(onError: (error: unknown) => void) {
    this.#onError = onError;
  }

  /** Adds `listener`; returns the function that removes it. */
  add(listener: ChangeListener<T>): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  tell(current: T): void {
    for (const listener of this.#listeners) {
      try {
        listener(current);
      } catch (error) {
        this.#onError(error);
      }
    }
  }
}
