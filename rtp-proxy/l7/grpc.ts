/**
 * The gRPC parts of the HTTP/2 proxy (gRPC over HTTP/2, PROTOCOL-HTTP2.md):
 * recognising a call, its deadline (`grpc-timeout`), and the status codes the
 * proxy itself answers with, so a gRPC client sees a gRPC error and not a bare
 * HTTP status it cannot interpret.
 */
import type { RequestHeaders } from './router/route-match.js';

/** The status codes the proxy reads or answers with (grpc/status.h). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** The retry condition names of the config and the status each stands for. */
export const RETRYABLE_GRPC_STATUS: Readonly<Record<string, number>> = {
  cancelled: GrpcStatus.CANCELLED,
  'deadline-exceeded': GrpcStatus.DEADLINE_EXCEEDED,
  internal: GrpcStatus.INTERNAL,
  'resource-exhausted': GrpcStatus.RESOURCE_EXHAUSTED,
  unavailable: GrpcStatus.UNAVAILABLE,
};

export function isGrpcRequest(headers: RequestHeaders): boolean {
  const type = headers['content-type'];
  return typeof type === 'string' && type.startsWith('application/grpc');
}

const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

/**
 * `grpc-timeout` in milliseconds: 1 to 8 ASCII digits and a unit. Anything
 * else is `undefined`, and the call then has no deadline of its own (gRPC
 * servers do the same with a malformed value).
 */
export function parseGrpcTimeout(
  value: string | readonly string[] | undefined,
): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) return undefined;
  const unit = TIMEOUT_UNIT_MS[match[2] ?? ''];
  return unit === undefined ? undefined : Number(match[1]) * unit;
}

/** Units a forwarded `grpc-timeout` is written in, finest first. */
const FORMAT_UNITS = [
  ['m', 1],
  ['S', 1000],
  ['M', 60_000],
  ['H', 3_600_000],
] as const;

/** The largest value of `grpc-timeout`: 8 digits (the gRPC HTTP/2 protocol). */
const MAX_TIMEOUT_VALUE = 99_999_999;

/**
 * The remaining time as a `grpc-timeout` value: whole milliseconds (at least
 * 1), or the finest coarser unit in which it fits 8 digits, rounded down so
 * the upstream's deadline is never later than ours. A longer deadline (a
 * caller's days-long one on a route without a timeout) in milliseconds would
 * be a value servers refuse.
 */
export function formatGrpcTimeout(ms: number): string {
  const whole = Math.max(1, Math.floor(ms));
  for (const [unit, size] of FORMAT_UNITS) {
    const value = Math.floor(whole / size);
    if (value <= MAX_TIMEOUT_VALUE) return `${value}${unit}`;
  }
  return `${MAX_TIMEOUT_VALUE}H`;
}

/** gRPC's mapping of HTTP statuses it did not expect (http-grpc-status-mapping.md). */
export function grpcStatusForHttp(status: number): number {
  switch (status) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

/** The grpc-status a response carries in its headers (a Trailers-Only answer), if any. */
export function grpcStatusOf(headers: RequestHeaders): number | undefined {
  const value = headers['grpc-status'];
  if (typeof value !== 'string' || !/^\d{1,2}$/.test(value)) return undefined;
  return Number(value);
}

/** grpc-message is percent-encoded (PROTOCOL-HTTP2.md); keep it to printable ASCII. */
export function grpcMessage(text: string): string {
  return encodeURIComponent(text).replace(/%20/g, ' ');
}
