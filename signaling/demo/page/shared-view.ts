/**
 * The page's view shared by two RoomConnections while the page moves from a
 * draining node to another (make-before-break, conference.ts): both hold the
 * same room mates for a moment, each under its own consumers. A peer's tile
 * stays while either connection shows the peer: it goes when the last one
 * lets it go, so the old connection closing does not blank a tile the new
 * one fills. Tracks are per consumer and pass through as they are.
 */
import type { RoomView } from './room-connection.js';

export class SharedView implements RoomView {
  readonly #view: RoomView;
  /** How many connections show each peer now. */
  readonly #holders = new Map<string, number>();

  constructor(view: RoomView) {
    this.#view = view;
  }

  peerJoined(peer: string, displayName: string | null): void {
    const holders = this.#holders.get(peer) ?? 0;
    this.#holders.set(peer, holders + 1);
    if (holders === 0) this.#view.peerJoined(peer, displayName);
  }

  peerLeft(peer: string): void {
    const holders = this.#holders.get(peer) ?? 0;
    if (holders > 1) {
      this.#holders.set(peer, holders - 1);
      return;
    }
    this.#holders.delete(peer);
    if (holders === 1) this.#view.peerLeft(peer);
  }

  trackAdded(peer: string, consumerId: string, track: MediaStreamTrack): void {
    this.#view.trackAdded(peer, consumerId, track);
  }

  trackRemoved(peer: string, consumerId: string): void {
    this.#view.trackRemoved(peer, consumerId);
  }
}
