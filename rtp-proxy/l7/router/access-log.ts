/**
 * Structured access log: one JSON line per request, written through the
 * process logger (pino) so it shares its format and destination. Sampled,
 * because a line per request costs more than the proxying at high rates;
 * failed requests can be logged whatever the share, since those are the ones
 * someone will look for.
 */
import type { HttpConfig } from '../../../src/config/index.js';
import type { Logger } from '../../../src/shared/log.js';

export interface AccessLogEntry {
  readonly listener: string;
  readonly protocol: string;
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly route: string | null;
  readonly cluster: string | null;
  readonly endpoint: string | null;
  readonly status: number;
  readonly grpcStatus: number | null;
  readonly attempts: number;
  readonly durationMs: number;
  /** Short reasons in Envoy's spirit: NR no route, UF upstream failure, UT timeout, UO overflow, NH no healthy endpoint, FI fault, DC downstream closed. */
  readonly flags: readonly string[];
  readonly client: string | null;
}

export class AccessLog {
  readonly #log: Logger;
  readonly #share: number;
  readonly #errors: boolean;

  constructor(
    log: Logger,
    config: HttpConfig['accessLog'],
    readonly random: () => number = Math.random,
  ) {
    this.#log = log.child({ log: 'access' });
    this.#share = config.percent / 100;
    this.#errors = config.errors;
  }

  /** Cheap test first, so unsampled requests build no entry. */
  wanted(status: number, failed: boolean): boolean {
    if (this.#errors && (failed || status >= 500)) return true;
    return this.#share > 0 && this.random() < this.#share;
  }

  write(entry: AccessLogEntry): void {
    this.#log.info(entry, 'access');
  }
}
