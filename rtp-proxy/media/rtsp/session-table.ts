/**
 * Every live RTSP session, by id. UDP sessions outlive their connection and
 * end when the client goes silent for the session timeout (RFC 2326 §12.37:
 * a request or RTCP counts as a sign of life); TCP-interleaved sessions end
 * with their connection (RFC 7826 §C.1.6.3 behaviour).
 *
 * Sessions are also counted by source address, for
 * proxy.rtsp.maxSessionsPerSource: add() and remove() are the only ways in
 * and out (TEARDOWN, the connection's close, the timeout, a path change and
 * the proxy's stop all go through remove()), so a released session always
 * frees its source's slot.
 */
import type { RtspSession } from './rtsp-session.js';

export class SessionTable {
  readonly #sessions = new Map<string, RtspSession>();
  /** By owning connection: interleaved frames look their session up per packet. */
  readonly #byConnection = new Map<number, Set<RtspSession>>();
  /** Sessions held by each source address (only addresses holding one). */
  readonly #bySource = new Map<string, number>();
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

  /** Sessions the source address holds now. */
  heldBy(address: string): number {
    return this.#bySource.get(address) ?? 0;
  }

  /** Source addresses holding a session now (each counted once). */
  get sources(): number {
    return this.#bySource.size;
  }

  add(session: RtspSession): void {
    this.#sessions.set(session.id, session);
    const owned = this.#byConnection.get(session.owner.id);
    if (owned === undefined) this.#byConnection.set(session.owner.id, new Set([session]));
    else owned.add(session);
    const source = session.owner.remoteAddress;
    this.#bySource.set(source, this.heldBy(source) + 1);
  }

  remove(session: RtspSession, reason: string): void {
    if (this.#sessions.get(session.id) !== session) return;
    this.#sessions.delete(session.id);
    const owned = this.#byConnection.get(session.owner.id);
    owned?.delete(session);
    if (owned?.size === 0) this.#byConnection.delete(session.owner.id);
    const source = session.owner.remoteAddress;
    const left = this.heldBy(source) - 1;
    if (left > 0) this.#bySource.set(source, left);
    else this.#bySource.delete(source);
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
