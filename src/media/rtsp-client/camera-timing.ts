/** The clocks of a camera source: how long to wait for what. */
export interface CameraTiming {
  /** TCP connect and each request's response. */
  connectTimeoutMs: number;
  /** No RTP on any track for this long while playing: stalled, reconnect. */
  noMediaTimeoutMs: number;
  /** Transport 'auto': no RTP over UDP this long after PLAY: redo the session over TCP. */
  udpFallbackMs: number;
  /** First reconnect delay ceiling (full-jitter backoff). */
  backoffBaseMs: number;
  /** Largest reconnect delay. */
  backoffMaxMs: number;
}

export const DEFAULT_CAMERA_TIMING: Readonly<CameraTiming> = {
  connectTimeoutMs: 5000,
  noMediaTimeoutMs: 5000,
  udpFallbackMs: 3000,
  backoffBaseMs: 500,
  backoffMaxMs: 10_000,
};

/**
 * A session that played this long counts as healthy: the next failure
 * starts the backoff from its base again.
 */
export const STABLE_SESSION_MS = 10_000;

/** Bound on the TEARDOWN that close() sends. */
export const TEARDOWN_TIMEOUT_MS = 1000;

/** RFC 2326 §12.37: a session times out after 60 s when the server names no timeout. */
export const DEFAULT_SESSION_TIMEOUT_S = 60;
