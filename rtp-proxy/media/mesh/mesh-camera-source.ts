/**
 * A camera path's source in a mesh of proxies: the camera itself on the
 * proxy that owns the path's session (`camera/<path>`, placed by the control
 * plane), a hop from the owner everywhere else, so the whole mesh pulls each
 * camera once. It follows the placement: when the session moves (the owner
 * failed or drains), the proxy that takes it starts pulling the camera and
 * the one that lost it becomes an edge.
 *
 * A switch makes before it breaks: while the source that was up keeps
 * delivering, the new one starts; it takes over at its first clean start (a
 * keyframe) after it is ready, and only then is the old one closed. The
 * path above sees one source that came up again (ready()) between two whole
 * pictures, and keeps its viewers, SSRC and numbering. So in a drain the new
 * owner pulls first and the old one lets go after, and viewers on either see
 * no gap; a switch that shows no keyframe within SWITCH_DEADLINE_MS happens
 * anyway. A source that was not up is replaced at once; one that goes down
 * during the switch says so.
 *
 * Where the control plane does not place sessions (placesSessions false:
 * one without placement), every proxy pulls its cameras itself, as a
 * standalone proxy does. Where it does but has not placed this one yet (for
 * its first seconds after a start), the source waits: pulling from every
 * proxy meanwhile is what the mesh is there to avoid.
 */
import type {
  MediaSource,
  SourceDescription,
  SourceListener,
  SourceState,
} from '../../../src/media/source/index.js';
import { startsCleanly } from './clean-start.js';

export type MeshRole = 'camera' | 'edge' | 'unplaced';

/** A new source that shows no keyframe this long after it is ready takes over anyway. */
export const SWITCH_DEADLINE_MS = 5_000;

export interface MeshCameraSourceOptions {
  /** Which source this proxy should run now. */
  readonly role: () => MeshRole;
  readonly camera: () => MediaSource;
  readonly edge: () => MediaSource;
  /** Called once, when the source is started (a source built but never started costs nothing). */
  readonly onStart?: () => void;
  /** Called once, when the source is closed for good. */
  readonly onClose?: () => void;
  /** Monotonic ms, for the switch deadline; default performance.now. */
  readonly now?: () => number;
}

/** A source starting while the current one still delivers. */
interface Incoming {
  readonly source: MediaSource;
  readonly role: MeshRole;
  /** Its description once it is ready; it takes over at its next clean start. */
  description: SourceDescription | undefined;
  readyAtMs: number;
}

export class MeshCameraSource implements MediaSource {
  readonly #options: MeshCameraSourceOptions;
  readonly #now: () => number;
  /** The source whose packets reach the path. */
  #inner: MediaSource | undefined;
  /** What the current source is: the camera or a hop. */
  #innerRole: MeshRole | undefined;
  #incoming: Incoming | undefined;
  #role: MeshRole | undefined;
  #listener: SourceListener | undefined;
  #up = false;
  #reconnectsBefore = 0;
  #closed = false;

  constructor(options: MeshCameraSourceOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
  }

  get state(): SourceState {
    if (this.#closed) return 'closed';
    return this.#inner?.state ?? 'connecting';
  }

  get transport(): 'udp' | 'tcp' | null {
    return this.#inner?.transport ?? null;
  }

  get reconnects(): number {
    return this.#reconnectsBefore + (this.#inner?.reconnects ?? 0);
  }

  get lastError(): string | null {
    if (this.#role === 'unplaced') return 'waiting for the control plane to place this camera';
    return this.#inner?.lastError ?? null;
  }

  /** The source running now (a CameraSource, a HopSource, or none while unplaced). */
  get inner(): MediaSource | undefined {
    return this.#inner;
  }

  start(listener: SourceListener): void {
    this.#listener = listener;
    this.#options.onStart?.();
    this.follow();
  }

  /** The placement may have changed: switches source when this proxy's role did. */
  follow(): void {
    if (this.#closed || this.#listener === undefined) return;
    const role = this.#options.role();
    if (role === this.#role) return;
    this.#role = role;
    // A switch in progress is superseded; back to the role of the source running, nothing to start.
    this.#dropIncoming();
    if (this.#inner !== undefined && role === this.#innerRole) return;
    if (role === 'unplaced') {
      this.#replace(undefined, 'the camera is not placed');
      return;
    }
    const next = role === 'camera' ? this.#options.camera() : this.#options.edge();
    if (this.#inner === undefined || !this.#up) {
      this.#replace(next, 'the camera moved');
      this.#innerRole = role;
      return;
    }
    this.#incoming = { source: next, role, description: undefined, readyAtMs: 0 };
    next.start(this.#listenerFor(next));
  }

  async close(): Promise<void> {
    if (!this.#closed && this.#listener !== undefined) this.#options.onClose?.();
    this.#closed = true;
    this.#listener = undefined;
    this.#dropIncoming();
    const inner = this.#inner;
    this.#inner = undefined;
    await inner?.close();
  }

  /**
   * What `source` says goes to the path while it is the current source; an
   * incoming one's packets are held back until it takes over.
   */
  #listenerFor(source: MediaSource): SourceListener {
    const current = (): SourceListener | undefined =>
      this.#inner === source && !this.#closed ? this.#listener : undefined;
    return {
      ready: (description) => {
        const listener = current();
        if (listener !== undefined) {
          this.#up = true;
          listener.ready(description);
          return;
        }
        const incoming = this.#incoming;
        if (incoming?.source !== source) return;
        incoming.description = description;
        incoming.readyAtMs = this.#now();
      },
      rtp: (track, packet) => {
        const listener = current();
        if (listener !== undefined) {
          listener.rtp(track, packet);
          return;
        }
        const incoming = this.#incoming;
        const description = incoming?.description;
        if (incoming?.source !== source || description === undefined) return;
        const late = this.#now() - incoming.readyAtMs >= SWITCH_DEADLINE_MS;
        if (!late && !startsCleanly(description, track, packet)) return;
        this.#takeOver(incoming, description);
        this.#listener?.rtp(track, packet);
      },
      rtcp: (track, packet) => current()?.rtcp(track, packet),
      down: (reason) => {
        const listener = current();
        if (listener === undefined) return;
        this.#up = false;
        listener.down(reason);
      },
      failed: (failure) => current()?.failed?.(failure),
    };
  }

  /** The incoming source becomes current: the old one is closed, the path hears ready(). */
  #takeOver(incoming: Incoming, description: SourceDescription): void {
    this.#incoming = undefined;
    this.#closeInner();
    this.#inner = incoming.source;
    this.#innerRole = incoming.role;
    this.#up = true;
    this.#listener?.ready(description);
  }

  /** Closes the current source (the path hears down() if it was up) and starts `next`. */
  #replace(next: MediaSource | undefined, reason: string): void {
    this.#closeInner();
    if (this.#up) {
      this.#up = false;
      this.#listener?.down(reason);
    }
    if (next === undefined) return;
    this.#inner = next;
    next.start(this.#listenerFor(next));
  }

  #closeInner(): void {
    const previous = this.#inner;
    this.#inner = undefined;
    if (previous === undefined) return;
    this.#reconnectsBefore += previous.reconnects;
    void previous.close();
  }

  #dropIncoming(): void {
    const incoming = this.#incoming;
    this.#incoming = undefined;
    if (incoming !== undefined) void incoming.source.close();
  }
}
