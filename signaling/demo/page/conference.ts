/**
 * Being in a room across connections: a RoomConnection per WebSocket, and a
 * new one (a re-join, with the same local tracks and peer name) when the
 * server says `reconnect` or the socket drops, after a growing pause.
 */
import { RoomConnection, type RoomView } from './room-connection.js';
import { SignalingError } from './signaling-client.js';
import type { StatsSource } from './stats.js';

/** Pauses before re-joining, ms; the last repeats. */
const REJOIN_DELAYS_MS = [250, 1_000, 2_000, 5_000];

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
    const connection = await RoomConnection.open({
      ...this.#options,
      peer: this.#peer,
      lost: (lostConnection, reason) => {
        this.#lost(lostConnection, reason);
      },
    });
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
