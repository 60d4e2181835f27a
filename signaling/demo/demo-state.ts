/**
 * What the demo page exposes as `window.streammeshDemo`: a small,
 * machine-readable view of its state, so tests (and curious users in the
 * console) read numbers instead of scraping the DOM. Types only: the page
 * and the tests share them.
 */

/** One media stream as the page's getStats() sampling saw it in the last second. */
export interface StreamStats {
  /** The mediasoup producer or consumer id, or `whep:<camera path>`. */
  readonly id: string;
  /** Whose media: a peer's name, `me` for what this page sends, `camera:<path>` for WHEP. */
  readonly owner: string;
  readonly direction: 'inbound' | 'outbound';
  readonly kind: 'audio' | 'video';
  /** Payload bits per second over the last sampling interval. */
  readonly bitrateBps: number;
  /** Packets received (inbound) or sent (outbound) so far. */
  readonly packets: number;
  /** Packets lost so far: ours for inbound, as the far end reported (RTCP) for outbound. */
  readonly packetsLost: number;
  /** packetsLost / (packets + packetsLost), 0..1 (0 before any packet). */
  readonly lossRatio: number;
  /** Interarrival jitter in milliseconds; null until known. */
  readonly jitterMs: number | null;
  /** The selected ICE candidate pair's currentRoundTripTime in milliseconds; null until known. */
  readonly roundTripTimeMs: number | null;
  /** Video frames decoded (inbound) or encoded (outbound); null for audio. */
  readonly frames: number | null;
  /** Width of the last decoded or encoded video frame; null for audio or before one. */
  readonly frameWidth: number | null;
}

/** A notification or lifecycle step the page saw, newest last (the last 100 are kept). */
export interface DemoEvent {
  /** A protocol notification name (`peerJoined`, `peerLeft`, `reconnect`, ...) or a page step (`joined`, `left`, `error`). */
  readonly name: string;
  /** The peer it is about, when there is one. */
  readonly peer: string | null;
  /** Date.now() when it was seen. */
  readonly at: number;
}

export type WhepState = 'idle' | 'connecting' | 'playing' | 'failed';

export interface DemoState {
  /** True while the page is in a room with its transports set up. */
  readonly joined: boolean;
  readonly room: string | null;
  /** This page's peer name (the server's choice when none was asked for). */
  readonly peer: string | null;
  /** The display name the others see, as the server cleaned it; null when not joined or none. */
  readonly displayName: string | null;
  /** The other peers in the room, by name. */
  readonly peers: readonly string[];
  readonly events: readonly DemoEvent[];
  readonly whep: WhepState;
  /** The lines of the page's error area, oldest first; empty while it is hidden. */
  readonly errors: readonly string[];
  /** The latest sample of every stream (taken once a second). */
  stats(): readonly StreamStats[];
}

/** The global the page defines. */
export const DEMO_STATE_GLOBAL = 'streammeshDemo';
