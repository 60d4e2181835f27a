/**
 * A camera path's source in a mesh of proxies: the camera itself on the
 * proxy that owns the path's session (`camera/<path>`, placed by the control
 * plane), a hop from the owner everywhere else, so the whole mesh pulls each
 * camera once. It follows the placement: when the session moves (the owner
 * failed or drains), the proxy that takes it starts pulling the camera and
 * the one that lost it becomes an edge; the path above sees one source that
 * went down and came back, and keeps its viewers, SSRC and numbering.
 *
 * Where the control plane does not place sessions (placesSessions false:
 * one without placement), every proxy pulls its cameras itself, as a
 * standalone proxy does. Where it does but has not placed this one yet (for
 * its first seconds after a start), the source waits: pulling from every
 * proxy meanwhile is what the mesh is there to avoid.
 */
import type { MediaSource, SourceListener, SourceState } from '../../../src/media/source/index.js';

export type MeshRole = 'camera' | 'edge' | 'unplaced';

export interface MeshCameraSourceOptions {
  /** Which source this proxy should run now. */
  readonly role: () => MeshRole;
  readonly camera: () => MediaSource;
  readonly edge: () => MediaSource;
  /** Called once, when the source is closed for good. */
  readonly onClose?: () => void;
}

export class MeshCameraSource implements MediaSource {
  readonly #options: MeshCameraSourceOptions;
  #inner: MediaSource | undefined;
  #role: MeshRole | undefined;
  #listener: SourceListener | undefined;
  #up = false;
  #reconnectsBefore = 0;
  #closed = false;

  constructor(options: MeshCameraSourceOptions) {
    this.#options = options;
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
    this.follow();
  }

  /** The placement may have changed: switches source when this proxy's role did. */
  follow(): void {
    if (this.#closed || this.#listener === undefined) return;
    const role = this.#options.role();
    if (role === this.#role) return;
    this.#role = role;
    const previous = this.#inner;
    this.#inner = undefined;
    if (previous !== undefined) {
      this.#reconnectsBefore += previous.reconnects;
      void previous.close();
      if (this.#up) {
        this.#up = false;
        this.#listener.down(
          role === 'camera'
            ? 'this proxy now owns the camera'
            : 'the camera moved to another proxy',
        );
      }
    }
    if (role === 'unplaced') return;
    const inner = role === 'camera' ? this.#options.camera() : this.#options.edge();
    this.#inner = inner;
    const listener = this.#listener;
    const current = (): boolean => this.#inner === inner && !this.#closed;
    inner.start({
      ready: (description) => {
        if (!current()) return;
        this.#up = true;
        listener.ready(description);
      },
      rtp: (track, packet) => {
        if (current()) listener.rtp(track, packet);
      },
      rtcp: (track, packet) => {
        if (current()) listener.rtcp(track, packet);
      },
      down: (reason) => {
        if (!current()) return;
        this.#up = false;
        listener.down(reason);
      },
      failed: (failure) => {
        if (current()) listener.failed?.(failure);
      },
    });
  }

  async close(): Promise<void> {
    if (!this.#closed) this.#options.onClose?.();
    this.#closed = true;
    this.#listener = undefined;
    const inner = this.#inner;
    this.#inner = undefined;
    await inner?.close();
  }
}
