/**
 * The WebSocket heartbeat: every interval each session gets a ws ping; one
 * that answered none of the last MAX_MISSED_PONGS pings is terminated, and
 * its peer leaves its room.
 */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 10_000;

export interface Beating {
  heartbeat(): void;
}

export class Heartbeat {
  readonly #timer: NodeJS.Timeout;

  constructor(sessions: () => Iterable<Beating>, intervalMs = DEFAULT_HEARTBEAT_INTERVAL_MS) {
    this.#timer = setInterval(() => {
      for (const session of sessions()) session.heartbeat();
    }, intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
