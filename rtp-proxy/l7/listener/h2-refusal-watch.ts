/**
 * Notices the HTTP/2 sessions that nghttp2 has ended on node's native socket
 * path, so they are counted and closed although node reports nothing.
 *
 * On the native path nghttp2 checks every frame itself: an invalid one gets
 * a GOAWAY with its error code, after which nghttp2 neither reads nor writes
 * again; node emits no event and keeps the socket until the idle timeout
 * (test/integration/l7/h2-native-signals.test.ts). What can be seen from
 * JavaScript is what follows from it: the socket's bytesRead stops growing,
 * and a frame queued on the session (a PING) is never written although no
 * write waits on the socket. So a session whose reading stopped is probed
 * once with a PING; one whose PING stays unanswered, with frames held in
 * nghttp2 and the socket's write queue empty at two sweeps in a row, is
 * ended. Each look waits for the check phase, after node's own write pass,
 * so frames queued in the same turn (a response) are not mistaken for held
 * ones. A congested session holds frames too, but behind bytes in the
 * socket's write queue; a busy session never stops reading, so it is never
 * probed, and an idle one is probed once (its answer is not taken for new
 * traffic).
 *
 * The price against the frame guard (h2-frame-guard.ts), which reads every
 * frame header in JavaScript and so takes the session off the native path:
 * the reason is one (h2_refused_by_nghttp2) rather than one per shape, and
 * the connection is closed within about three sweeps rather than at once.
 */
import type { ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';

/** The sweep's period. A refused session is ended within about three of them. */
export const REFUSAL_SWEEP_MS = 250;

interface Watched {
  readonly socket: Socket;
  /** socket.bytesRead at the last sweep. */
  bytesRead: number;
  /** Bytes arrived between the last two sweeps: reading had not stopped. */
  reading: boolean;
  /** A PING sent to learn whether nghttp2 still writes, not yet answered. */
  probing: boolean;
  /** Sweeps in a row that found frames held with nothing waiting on the socket. */
  held: number;
  /** The probe's answer came since the last sweep: its own bytes are no sign of traffic. */
  answered: boolean;
}

/**
 * What a PING's answer adds to bytesRead: its frame (9 + 8 bytes), in a TLS
 * record (up to 29 bytes more) on a TLS socket. Growth up to this right after
 * an answer is taken for the answer, or an idle session would be probed
 * again every other sweep, answering each time.
 */
const PING_ANSWER_BYTES = 64;

/** Looks in a row that must find frames held before a session counts as ended by nghttp2. */
const HELD_LOOKS = 2;

/** Our handle on the socket's libuv or TLS stream: the bytes waiting to be written. */
type StreamHandle = { writeQueueSize?: number } | null | undefined;

export class H2RefusalWatch {
  readonly #sessions = new Map<ServerHttp2Session, Watched>();
  readonly #onRefused: () => void;
  readonly #sweepMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(onRefused: () => void, sweepMs = REFUSAL_SWEEP_MS) {
    this.#onRefused = onRefused;
    this.#sweepMs = sweepMs;
  }

  /** Watches a session served natively on `socket` until it closes. */
  watch(session: ServerHttp2Session, socket: Socket): void {
    this.#sessions.set(session, {
      socket,
      bytesRead: socket.bytesRead,
      reading: true,
      probing: false,
      held: 0,
      answered: false,
    });
    session.once('close', () => {
      this.#sessions.delete(session);
      if (this.#sessions.size === 0) this.#stop();
    });
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.sweep(), this.#sweepMs);
      this.#timer.unref();
    }
  }

  /** Sessions watched now. */
  get size(): number {
    return this.#sessions.size;
  }

  close(): void {
    this.#sessions.clear();
    this.#stop();
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One look at every session; its timer calls it each sweepMs (a test may call it at a chosen moment). */
  sweep(): void {
    const probing: ServerHttp2Session[] = [];
    for (const [session, watched] of this.#sessions) {
      if (session.destroyed || session.closed) continue;
      const bytesRead = watched.socket.bytesRead;
      const answerOnly = watched.answered && bytesRead - watched.bytesRead <= PING_ANSWER_BYTES;
      const grew = bytesRead !== watched.bytesRead && !answerOnly;
      watched.bytesRead = bytesRead;
      watched.answered = false;
      if (watched.probing && !grew) {
        probing.push(session);
        continue;
      }
      // Read since the probe went out and still no answer (a client that ignores PINGs):
      // that PING says nothing about what nghttp2 does now, so the next stop sends another.
      watched.probing = false;
      watched.held = 0;
      const stopped = watched.reading && !grew;
      watched.reading = grew;
      if (stopped) this.#probe(session, watched);
    }
    // node writes what a session queued in this turn from a native immediate, which runs before ours.
    if (probing.length > 0) setImmediate(() => this.#look(probing));
  }

  #look(sessions: readonly ServerHttp2Session[]): void {
    for (const session of sessions) {
      const watched = this.#sessions.get(session);
      if (watched === undefined || !watched.probing || session.destroyed) continue;
      watched.held = holdsFrames(session, watched.socket) ? watched.held + 1 : 0;
      if (watched.held >= HELD_LOOKS) this.#end(session, watched);
    }
  }

  #probe(session: ServerHttp2Session, watched: Watched): void {
    try {
      // The answer clears the probe; a session that closes first cancels it with an error.
      watched.probing = session.ping((error) => {
        watched.probing = false;
        watched.held = 0;
        watched.answered = error === null;
      });
    } catch {
      // A session node has begun to destroy: its 'close' ends the watch.
      watched.probing = false;
    }
  }

  #end(session: ServerHttp2Session, watched: Watched): void {
    this.#sessions.delete(session);
    this.#onRefused();
    session.destroy();
    watched.socket.destroy();
  }
}

/** nghttp2 holds frames unwritten, and nothing waits on the socket that would explain it. */
function holdsFrames(session: ServerHttp2Session, socket: Socket): boolean {
  if ((session.state.outboundQueueSize ?? 0) === 0) return false;
  const handle = (socket as unknown as { _handle: StreamHandle })._handle;
  return handle?.writeQueueSize === 0;
}
