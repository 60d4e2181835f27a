/**
 * Keeps a copy of a request body, up to a limit, while it streams to the first
 * upstream, so that a retry or a mirror can send the same bytes again. Bodies
 * over the limit are not kept (and their requests are neither retried nor
 * mirrored): buffering them would let one client hold unbounded memory.
 */
import type { Readable, Writable } from 'node:stream';

/** Envoy's default per-request buffer limit is 1 MiB; requests worth retrying are small. */
export const DEFAULT_BODY_RECORD_LIMIT = 64 * 1024;

export class BodyRecorder {
  #chunks: Buffer[] = [];
  #bytes = 0;
  #overflowed = false;
  #ended = false;
  readonly #endWaiters: (() => void)[] = [];

  /** Must be called before the body is piped, so no chunk is missed. */
  constructor(source: Readable, limitBytes: number = DEFAULT_BODY_RECORD_LIMIT) {
    source.on('data', (chunk: Buffer) => {
      if (this.#overflowed) return;
      this.#bytes += chunk.length;
      if (this.#bytes > limitBytes) {
        this.#overflowed = true;
        this.#chunks = [];
        return;
      }
      this.#chunks.push(chunk);
    });
    source.once('end', () => {
      this.#ended = true;
      for (const wake of this.#endWaiters.splice(0)) wake();
    });
  }

  /** The whole body is here and was small enough to keep. */
  get replayable(): boolean {
    return this.#ended && !this.#overflowed;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Resolves when the body has ended (never, if the client stops sending). */
  ended(): Promise<void> {
    if (this.#ended) return Promise.resolve();
    return new Promise((resolve) => this.#endWaiters.push(resolve));
  }

  /** Writes the kept body and ends `target`; only when `replayable`. */
  replayInto(target: Writable): void {
    for (const chunk of this.#chunks) target.write(chunk);
    target.end();
  }
}
