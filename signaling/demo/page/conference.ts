/**
 * Being in a room across connections: a RoomConnection per WebSocket, and a
 * new one (a re-join, with the same local tracks and peer name) when the
 * server says `reconnect` or the socket drops, after a growing pause.
 *
 * A node that cannot take the join answers `moved` with another node's
 * WebSocket URL (signaling/CASCADE.md, "Doors"): the join is sent there at
 * once, at most MAX_MOVES times in a row (two full nodes may send it back
 * and forth). A re-join starts at the page's own node again: it is the
 * door, and the node we were moved to may be the one that went away. When
 * that node cannot be reached (it died), the re-join tries the doors the
 * last join answer named, in order, then those earlier answers named (a
 * node that was draining or not yet known then may be the one up now; an
 * unreachable door costs an open timeout), MAX_DOORS in all.
 *
 * A node that drains asks us to `move` (CASCADE.md, "Drain"): make before
 * break. A second connection joins at the URL given, under a new peer name
 * (our old one is still in the room, on the old node, and a room holds a
 * name once), with the same display name, publishes the same tracks and
 * consumes the others; only then is the old one closed. Meanwhile the old
 * one keeps playing and takes no newcomer, the new one ignores our old self,
 * and the tiles are shared (SharedView), so the others' pictures stay up.
 * The others see our new name join and the old one leave. A move that
 * fails (the target full and sending us back, unreachable, or refused by
 * the page's policy) closes the old connection too and joins again as
 * after a lost one: the old one, once leaving, shows no newcomer, and the
 * node asks once per connection, so staying would show a frozen room. The
 * re-join goes to the page's own node, whose door sends it on.
 */
import { RoomConnection, type RoomView } from './room-connection.js';
import { SharedView } from './shared-view.js';
import { SignalingError } from './signaling-client.js';
import type { StatsSource } from './stats.js';

/** Pauses before re-joining, ms; the last repeats. */
const REJOIN_DELAYS_MS = [250, 1_000, 2_000, 5_000];
/** `moved` answers followed for one join. */
const MAX_MOVES = 2;
/** Doors kept (the newest first): an unreachable one costs a re-join an open timeout. */
const MAX_DOORS = 8;
const NO_PEERS: ReadonlySet<string> = new Set();

/** A ws: or wss: URL as given by the server (`moved`, `move`, doors), else undefined. */
function websocketUrl(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    const url = new URL(text);
    return url.protocol === 'ws:' || url.protocol === 'wss:' ? url.toString() : undefined;
  } catch {
    return undefined;
  }
}

/** The URL of a `moved` answer, when it is one to follow. */
function movedTo(error: unknown): string | undefined {
  if (!(error instanceof SignalingError) || error.code !== 'moved') return undefined;
  return websocketUrl(error.url);
}

/** The node could not be reached (or went away while we joined): the next door may. */
function unreachable(error: unknown): boolean {
  return error instanceof SignalingError && (error.code === 'closed' || error.code === 'timeout');
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
  readonly #view: SharedView;
  #connection: RoomConnection | undefined;
  /** The name the server gave us, asked for again on a re-join. */
  #peer: string | undefined;
  /** Where a re-join goes when our node is unreachable: the last join answer's doors, then older ones. */
  #doors: readonly string[] = [];
  /** A move to another node is under way. */
  #moving = false;
  #retry: number | undefined;
  #failures = 0;
  #stopped = false;

  constructor(options: ConferenceOptions) {
    this.#options = options;
    this.#view = new SharedView(options.view);
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

  /** A (re-)join: the page's own node first, then each door of the last answer it cannot reach. */
  async #join(): Promise<void> {
    const { room, status } = this.#options;
    status(`joining ${room}…`);
    const candidates = [...new Set([this.#options.url, ...this.#doors])];
    let connection: RoomConnection | undefined;
    for (const [index, url] of candidates.entries()) {
      try {
        connection = await this.#connect(url, this.#peer, NO_PEERS);
        break;
      } catch (error) {
        const next = candidates[index + 1];
        // Any answer but "unreachable" is the room's own: no other door changes it.
        if (!unreachable(error) || next === undefined || this.#stopped) throw error;
        status(`${new URL(url).host} is unreachable; joining ${room} on ${new URL(next).host}…`);
        this.#options.record('door', null);
      }
    }
    if (connection === undefined) throw new Error('no node to join');
    if (this.#stopped) {
      connection.close();
      return;
    }
    if (connection.closed) throw new Error('the connection closed while joining');
    this.#adopt(connection);
  }

  /** Opens a connection at `url` and joins, following `moved` at most MAX_MOVES times. */
  async #connect(
    first: string,
    peer: string | undefined,
    ignorePeers: ReadonlySet<string>,
  ): Promise<RoomConnection> {
    let url = first;
    for (let moves = 0; ; moves += 1) {
      try {
        return await RoomConnection.open({
          ...this.#options,
          view: this.#view,
          url,
          peer,
          ignorePeers,
          lost: (lostConnection, reason) => {
            this.#lost(lostConnection, reason);
          },
          move: (from, to) => {
            this.#move(from, to);
          },
        });
      } catch (error) {
        const next = movedTo(error);
        if (next === undefined || moves === MAX_MOVES || this.#stopped) throw error;
        url = next;
        this.#options.status(`joining ${this.#options.room} on ${new URL(next).host}…`);
        this.#options.record('moved', null);
      }
    }
  }

  /** `connection` is the one we are in the room through from now on. */
  #adopt(connection: RoomConnection): void {
    this.#connection = connection;
    this.#peer = connection.peer ?? undefined;
    const fresh = connection.doors.filter((door) => websocketUrl(door) !== undefined);
    this.#doors = [...new Set([...fresh, ...this.#doors])].slice(0, MAX_DOORS);
    this.#failures = 0;
    this.#options.record('joined', connection.peer);
    this.#options.status(
      `in room ${this.#options.room} as ${connection.displayName ?? connection.peer ?? '?'}`,
    );
    // Asked to move while it was still setting up.
    if (connection.movedTo !== undefined) this.#move(connection, connection.movedTo);
  }

  /** The node of `from` drains and asks us to join at `url`: make before break. */
  #move(from: RoomConnection, url: string): void {
    const target = websocketUrl(url);
    if (target === undefined || this.#stopped || this.#moving || this.#connection !== from) return;
    this.#moving = true;
    from.leaving();
    this.#options.status(`this node is leaving: moving to ${new URL(target).host}…`);
    const oldSelf = from.peer;
    this.#connect(target, undefined, new Set(oldSelf === null ? [] : [oldSelf])).then(
      (next) => {
        this.#moving = false;
        if (this.#stopped) {
          next.close();
          return;
        }
        if (next.closed) {
          this.#afterFailedMove(from, 'the new connection closed while joining');
          return;
        }
        this.#adopt(next);
        from.close();
      },
      (error: unknown) => {
        this.#moving = false;
        this.#afterFailedMove(from, error instanceof Error ? error.message : String(error));
      },
    );
  }

  /**
   * `from` shows no newcomer any more (leaving) and will not be asked to
   * move again: it goes, and we join again as after a lost connection.
   */
  #afterFailedMove(from: RoomConnection, reason: string): void {
    this.#options.record('error', null);
    if (this.#connection === from) {
      this.#connection = undefined;
      from.close();
    }
    if (this.#connection === undefined) this.#rejoinLater(`could not move: ${reason}`);
  }

  #lost(connection: RoomConnection, reason: string): void {
    if (this.#connection !== connection) return;
    this.#connection = undefined;
    // A move under way takes over (or, failing, joins again).
    if (!this.#moving) this.#rejoinLater(reason);
  }

  #rejoinLater(reason: string): void {
    if (this.#stopped) return;
    clearTimeout(this.#retry);
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
