/**
 * Whether the node still answers: a `ping` request every interval, and the
 * connection is given up once `maxUnanswered` pings in a row got no answer.
 *
 * Why the page asks, when the server pings too: a node whose host vanished
 * (power, network) sends no close and no RST, so the browser's socket stays
 * open and its own WebSocket pongs go nowhere, unseen. Only a request that
 * goes unanswered shows it. With the defaults the page knows within about
 * 6 s (two intervals), and joins again through its doors.
 *
 * A failed ping (the socket closed) is not counted: the socket's own close
 * already says the connection is lost.
 */

export interface LivenessOptions {
  /** How often to ping, ms. */
  readonly intervalMs: number;
  /** Pings in a row without an answer after which the node is taken for gone. */
  readonly maxUnanswered: number;
}

export const DEFAULT_LIVENESS: LivenessOptions = { intervalMs: 3_000, maxUnanswered: 2 };

export class Liveness {
  readonly #ping: () => Promise<unknown>;
  readonly #gone: (reason: string) => void;
  readonly #options: LivenessOptions;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Pings sent since the last answer. */
  #unanswered = 0;

  /** `gone` is called once, when the node stopped answering; never after stop(). */
  constructor(
    ping: () => Promise<unknown>,
    gone: (reason: string) => void,
    options: LivenessOptions = DEFAULT_LIVENESS,
  ) {
    this.#ping = ping;
    this.#gone = gone;
    this.#options = options;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      this.#round();
    }, this.#options.intervalMs);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #round(): void {
    const { maxUnanswered } = this.#options;
    if (this.#unanswered >= maxUnanswered) {
      this.stop();
      this.#gone(`no answer to ${maxUnanswered} pings in a row`);
      return;
    }
    this.#unanswered += 1;
    this.#ping().then(
      () => {
        this.#unanswered = 0;
      },
      () => undefined,
    );
  }
}
