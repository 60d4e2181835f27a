/**
 * Whether a failed attempt may be tried again. Only where it is safe: a
 * request that never reached the application (connect failure, refused
 * stream, refused TLS handshake) always may; one that may have been processed (a 5xx, a reset, a
 * timeout) only if its method is idempotent (RFC 9110 section 9.2.2); a gRPC
 * call only on the status codes the route lists.
 */
import type { HttpRouteConfig } from '../../../src/config/index.js';
import { RETRYABLE_GRPC_STATUS, grpcStatusOf } from '../grpc.js';
import type { RequestHeaders } from './route-match.js';
import type { UpstreamFailure } from '../upstream/upstream-pool.js';

type RetryCondition = NonNullable<HttpRouteConfig['action']['retries']>['on'][number];

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export type AttemptOutcome =
  | { readonly status: number; readonly headers: RequestHeaders }
  | { readonly failure: UpstreamFailure | 'timeout' };

export class RetryPolicy {
  readonly #on: ReadonlySet<RetryCondition>;
  readonly #grpcStatuses: ReadonlySet<number>;

  constructor(conditions: readonly RetryCondition[]) {
    this.#on = new Set(conditions);
    this.#grpcStatuses = new Set(
      conditions.flatMap((name) => {
        const status = RETRYABLE_GRPC_STATUS[name];
        return status === undefined ? [] : [status];
      }),
    );
  }

  retryable(outcome: AttemptOutcome, method: string, grpc: boolean): boolean {
    const idempotent = IDEMPOTENT.has(method);
    if ('failure' in outcome) {
      switch (outcome.failure) {
        case 'connect-failure':
        case 'refused-stream':
          return this.#on.has(outcome.failure);
        // A refused mutual TLS handshake sent nothing: another endpoint may be acceptable.
        case 'tls-failure':
          return this.#on.has('connect-failure');
        case 'reset':
          return idempotent && this.#on.has('reset');
        case 'timeout':
          return idempotent && (this.#on.has('5xx') || this.#on.has('gateway-error'));
      }
    }
    if (grpc) {
      // Only a Trailers-Only answer has its status in the head; a call that
      // already streamed a message is past retrying.
      const status = grpcStatusOf(outcome.headers);
      if (status !== undefined && this.#grpcStatuses.has(status)) return true;
    }
    if (!idempotent) return false;
    if (this.#on.has('5xx') && outcome.status >= 500) return true;
    return (
      this.#on.has('gateway-error') &&
      (outcome.status === 502 || outcome.status === 503 || outcome.status === 504)
    );
  }
}
