/** Request rates per source address: a timer-free token bucket per source, bounded and counted. */
export { TokenBucket, type RateLimit } from './token-bucket.js';
export {
  DEFAULT_MAX_SOURCES,
  SourceRateLimiter,
  sourceKey,
  type RateDecision,
  type SourceRateLimiterOptions,
} from './source-rate-limiter.js';
