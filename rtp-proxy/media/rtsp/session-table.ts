/**
 * Every live RTSP session, by id. UDP sessions outlive their connection and
 * end when the client goes silent for the session timeout (RFC 2326 §12.37:
 * a request or RTCP counts as a sign of life); TCP-interleaved sessions end
 * with their connection (RFC 7826 §C.1.6.3 behaviour).
 */
import type { RtspSession } from './rtsp-session.js';

export class SessionTable {
  readonly #sessions = new Map<string, RtspSession>();
  /** By owning connection: interleaved frames look their session up per packet. */
  readonly #byConnection = new Map<number, Set<RtspSession>>();
  readonly #timeoutMs: () => number;
  readonly #now: () => number;
  readonly #sweep: NodeJS.Timeout;
  timedOut = 0;

  constructor(timeoutMs: () => number, now: () => number) {
    this.#timeoutMs = timeoutMs;
    this.#now = now;
    this.#sweep = setInterval(() => {
      this.#expire();
    }, 1000);
    this.#sweep.unref();
  }

  get size(): number {
    return this.#sessions.size;
  }

  values(): IterableIterator<RtspSession> {
    return this.#sessions.values();
  }

  get(id: string): RtspSession | undefined {
    return this.#sessions.get(id);
  }

  add(session: RtspSession): void {
    this.#sessions.set(session.id, session);
    const owned = this.#byConnection.get(session.owner.id);
    if (owned === undefined) this.#byConnection.set(session.owner.id, new Set([session]));
    else owned.add(session);
  }

  remove(session: RtspSession, reason: string): void {
    if (this.#sessions.get(session.id) !== session) return;
    this.#sessions.delete(session.id);
    const owned = this.#byConnection.get(session.owner.id);
    owned?.delete(session);
    if (owned?.size === 0) this.#byConnection.delete(session.owner.id);
    session.close(reason);
  }

  ownedBy(connectionId: number): ReadonlySet<RtspSession> {
    return this.#byConnection.get(connectionId) ?? NONE;
  }

  /** The connection closed: its TCP sessions end; its UDP ones live on until they time out. */
  connectionClosed(connectionId: number): void {
    for (const session of [...this.ownedBy(connectionId)]) {
      if (session.boundToConnection || session.transport === null || session.mode === 'record') {
        this.remove(session, 'connection closed');
      }
    }
  }

  closeAll(reason: string): void {
    for (const session of [...this.#sessions.values()]) this.remove(session, reason);
    clearInterval(this.#sweep);
  }

  #expire(): void {
    const deadline = this.#now() - this.#timeoutMs();
    for (const session of [...this.#sessions.values()]) {
      if (!session.boundToConnection && session.lastActivityMs < deadline) {
        this.timedOut += 1;
        this.remove(session, 'session timeout');
      }
    }
  }
}

const NONE: ReadonlySet<RtspSession> = new Set();
