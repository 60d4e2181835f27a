/**
 * Being in a room across connections: a RoomConnection per WebSocket, and a
 * new one (a re-join, with the same local tracks and peer name) when the
 * server says `reconnect` or the socket drops, after a growing pause.
 *
 * A node that cannot take the join answers `moved` with another node's
 * WebSocket URL (signaling/CASCADE.md, "Doors"): the join is sent there at
 * once, at most MAX_MOVES times in a row (two full nodes may send it back
 * and forth). A re-join starts at the page's own node again: it is the
 * door, and the node we were moved to may be the one that went away.
 */
import { RoomConnection, type RoomView } from './room-connection.js';
import { SignalingError } from './signaling-client.js';
import type { StatsSource } from './stats.js';

/** Pauses before re-joining, ms; the last repeats. */
const REJOIN_DELAYS_MS = [250, 1_000, 2_000, 5_000];
/** `moved` answers followed for one join. */
const MAX_MOVES = 2;

/** The URL of a `moved` answer, when it is one to follow (ws: or wss:). */
function movedTo(error: unknown): string | undefined {
  if (!(error instanceof SignalingError) || error.code !== 'moved' || error.url === undefined) {
    return undefined;
  }
  try {
    const url = new URL(error.url);
    return url.protocol === 'ws:' || url.protocol === 'wss:' ? url.toString() : undefined;
  } catch {
    return undefined;
  }
}

export interface ConferenceOptions {
  readonly url: string;
  readonly room: string;
  readonly displayName: string | undefined;
  readonly local: MediaStream;
  readonly view: RoomView;
  readonly record: (name: string, peer: string | null) => void;
  /** A line for the status bar. */
  readonly status: (text: string) => void;
}

export class Conference {
  readonly #options: ConferenceOptions;
  #connection: RoomConnection | undefined;
  /** The name the server gave us, asked for again on a re-join. */
  #peer: string | undefined;
  #retry: number | undefined;
  #failures = 0;
  #stopped = false;

  constructor(options: ConferenceOptions) {
    this.#options = options;
  }

  /** The first join: rejects when it fails (no retry for a room we never got into). */
  async start(): Promise<void> {
    await this.#join();
  }

  get room(): string {
    return this.#options.room;
  }

  get joined(): boolean {
    return this.#connection !== undefined;
  }

  get peer(): string | null {
    return this.#connection?.peer ?? null;
  }

  get displayName(): string | null {
    return this.#connection?.displayName ?? null;
  }

  get peers(): string[] {
    return this.#connection?.peers ?? [];
  }

  streams(): StatsSource[] {
    return this.#connection?.streams() ?? [];
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#connection?.close();
    this.#connection = undefined;
    this.#options.record('left', null);
  }

  async #join(): Promise<void> {
    const { room, status, record } = this.#options;
    status(`joining ${room}…`);
    let url = this.#options.url;
    let connection: RoomConnection | undefined;
    for (let moves = 0; connection === undefined; moves += 1) {
      try {
        connection = await RoomConnection.open({
          ...this.#options,
          url,
          peer: this.#peer,
          lost: (lostConnection, reason) => {
            this.#lost(lostConnection, reason);
          },
        });
      } catch (error) {
        const next = movedTo(error);
        if (next === undefined || moves === MAX_MOVES || this.#stopped) throw error;
        url = next;
        status(`joining ${room} on ${new URL(next).host}…`);
        record('moved', null);
      }
    }
    if (this.#stopped) {
      connection.close();
      return;
    }
    if (connection.closed) throw new Error('the connection closed while joining');
    this.#connection = connection;
    this.#peer = connection.peer ?? undefined;
    this.#failures = 0;
    record('joined', connection.peer);
    status(`in room ${room} as ${connection.displayName ?? connection.peer ?? '?'}`);
  }

  #lost(connection: RoomConnection, reason: string): void {
    if (this.#connection !== connection) return;
    this.#connection = undefined;
    this.#rejoinLater(reason);
  }

  #rejoinLater(reason: string): void {
    if (this.#stopped) return;
    const delay = REJOIN_DELAYS_MS[Math.min(this.#failures, REJOIN_DELAYS_MS.length - 1)] ?? 0;
    this.#failures += 1;
    this.#options.status(`${reason}; joining again in ${delay} ms`);
    this.#retry = setTimeout(() => {
      this.#join().catch((error: unknown) => {
        // Our old self may still hold the name until the server notices it is gone.
        if (error instanceof SignalingError && error.code === 'already_joined') {
          this.#peer = undefined;
        }
        this.#rejoinLater(error instanceof Error ? error.message : String(error));
      });
    }, delay);
  }
}
