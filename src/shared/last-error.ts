/**
 * The last error of something that keeps running — an RTSP path's source, a
 * relay destination, a node of the mesh — and when it happened: one shape
 * for /streams and /nodes.
 *
 * It stays after the thing recovers, goes idle or loses its viewers, and a
 * later success only marks it `resolvedAt`; only a newer error replaces it.
 * Envoy's admin `error_state` is cleared by the next successful update and
 * MediaMTX keeps failures in its log only: both answer "is it broken now?".
 * Ours must also answer "why did my viewer get a 503 a minute ago?" after
 * the linger has closed the camera (issue 15, "errors that stay"), so the
 * reason is kept and `resolvedAt === null` tells a current error from a past one.
 */
import { systemClock, type Clock } from './clock.js';

export interface LastError {
  /** For a person: what failed and why; never carries credentials. */
  readonly message: string;
  /** Stable code of the error class (StreammeshError.code), or null when the failure had none. */
  readonly code: string | null;
  /** When it last happened (ISO 8601). */
  readonly at: string;
  /** When a later success came (ISO 8601); null while the error is current. */
  readonly resolvedAt: string | null;
}

export class LastErrorRecord {
  readonly #clock: Clock;
  #message = '';
  #code: string | null = null;
  /** NaN: no error yet. Milliseconds kept, ISO text only made when shown. */
  #atMs = Number.NaN;
  #resolvedAtMs = Number.NaN;

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  /** Records a failure; a repeat of the same one only moves `at`. */
  failed(message: string, code: string | null = null): void {
    this.#message = message;
    this.#code = code;
    this.#atMs = this.#clock.now();
    this.#resolvedAtMs = Number.NaN;
  }

  /** A success after the last error marks it resolved; cheap to call often. */
  succeeded(): void {
    if (this.current) this.#resolvedAtMs = this.#clock.now();
  }

  /** An error is recorded and no success came after it. */
  get current(): boolean {
    return !Number.isNaN(this.#atMs) && Number.isNaN(this.#resolvedAtMs);
  }

  get value(): LastError | null {
    if (Number.isNaN(this.#atMs)) return null;
    return {
      message: this.#message,
      code: this.#code,
      at: new Date(this.#atMs).toISOString(),
      resolvedAt: Number.isNaN(this.#resolvedAtMs)
        ? null
        : new Date(this.#resolvedAtMs).toISOString(),
    };
  }
}
