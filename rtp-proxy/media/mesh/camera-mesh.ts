/**
 * The proxy's part of the camera mesh: which of its camera paths it pulls
 * itself and which it takes from their owners over hops, and the hops it
 * sends to other proxies. It follows the node's MeshState (placements and
 * MEDIA_KEY hops from the control plane):
 *
 * - each camera path's source is a MeshCameraSource that runs the camera
 *   where this proxy owns the path and a HopSource elsewhere;
 * - the HopSources' addresses are this proxy's hop requests (the node sends
 *   them to the control plane, which answers with MEDIA_KEY resources);
 * - each hop this proxy sends is a HopFeed on the path, leaving from the
 *   proxy's one HopSocket (its `hop` listen address).
 *
 * Nothing here decides placement or makes keys: the control plane does.
 */
import type { HopBody } from '../../../src/config/index.js';
import type { MediaSource } from '../../../src/media/source/index.js';
import type { MeshState } from '../../../src/node-agent/index.js';
import type { HopRequest, HopStats } from '../../../src/protocol/mesh/index.js';
import { errorMessage } from '../../../src/shared/errors.js';
import type { Logger } from '../../../src/shared/log.js';
import type { StreamPath } from '../rtsp/index.js';
import { HopFeed } from './hop-feed.js';
import { HopSocket } from './hop-socket.js';
import { HopSource, type HopSourceSnapshot } from './hop-source.js';
import { MeshCameraSource, type MeshRole } from './mesh-camera-source.js';

export const CAMERA_SESSION_PREFIX = 'camera/';

export interface CameraMeshOptions {
  readonly nodeId: string;
  readonly meshState: MeshState;
  /** Whether the control plane places sessions (else every proxy pulls its cameras). */
  readonly placesSessions: () => boolean;
  /** The hop requests changed: the node sends them. */
  readonly requestsChanged: () => void;
  /** The RTSP path of that name in force, if any. */
  readonly pathNamed: (name: string) => StreamPath | undefined;
  readonly log: Logger;
}

export interface CameraMeshSnapshot {
  readonly address: string | null;
  readonly sending: readonly (ReturnType<HopFeed['snapshot']> & { readonly peer: string })[];
  readonly receiving: readonly HopSourceSnapshot[];
  readonly drops: Record<string, number>;
}

export class CameraMesh {
  readonly #options: CameraMeshOptions;
  readonly #log: Logger;
  readonly #sources = new Set<MeshCameraSource>();
  readonly #edges = new Map<string, HopSource>();
  readonly #feeds = new Map<string, HopFeed>();
  readonly #drops = new Map<string, number>();
  #socket: HopSocket | undefined;
  /** A hop whose path is not in force yet is tried again after a second. */
  #retry: NodeJS.Timeout | undefined;
  /**
   * A config update that changes a camera path's settings replaces its
   * StreamPath and does not tell the mesh: every second, a feed whose path
   * is no longer the one in force moves to the new one.
   */
  #pathCheck: NodeJS.Timeout | undefined;
  readonly #onChange = (): void => this.#follow();

  constructor(options: CameraMeshOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'camera-mesh' });
    options.meshState.on('change', this.#onChange);
  }

  /**
   * Binds the hop socket; its address is the proxy's `hop` listen address.
   * On an unspecified address (0.0.0.0, ::) the proxy has no address other
   * proxies could name: it takes part in no hop (it registers none and asks
   * for none), and says so once.
   */
  async listen(host: string): Promise<void> {
    this.#socket = await HopSocket.bind(host);
    this.#pathCheck = setInterval(() => this.#followPaths(), 1_000);
    this.#pathCheck.unref();
    if (isUnspecified(host)) {
      this.#log.warn(
        { mediaAddress: host },
        'proxy.mediaAddress is unspecified: this proxy sends and receives no camera hops; give it its own address (or STREAMMESH_PROXY_BIND_HOST)',
      );
    }
  }

  /** The hop socket's address, when other proxies can reach it by it. */
  get address(): string | undefined {
    const socket = this.#socket;
    return socket === undefined || isUnspecified(socket.host) ? undefined : socket.address;
  }

  /** The source of camera path `path`: the camera, or a hop from its owner. */
  cameraSource(path: string, camera: () => MediaSource, mediaHost: string): MediaSource {
    const session = `${CAMERA_SESSION_PREFIX}${path}`;
    const source: MeshCameraSource = new MeshCameraSource({
      role: () => this.#roleOf(session),
      camera,
      edge: () => this.#edge(session, mediaHost),
      // Followed from its start: a source prepare built and nobody started
      // (an aborted config, a path rebuilt before anyone watched) is not held.
      onStart: () => this.#sources.add(source),
      onClose: () => this.#sources.delete(source),
    });
    return source;
  }

  /** Where this proxy wants camera streams from their owners. */
  requests(): HopRequest[] {
    const out: HopRequest[] = [];
    for (const [session, source] of this.#edges) {
      const address = source.address;
      if (address !== undefined && !isUnspecified(source.host)) out.push({ session, address });
    }
    return out;
  }

  /** Every hop's figures, for the stats report. */
  stats(): HopStats[] {
    const out: HopStats[] = [];
    for (const feed of this.#feeds.values()) {
      out.push(summary(feed.hopId, feed.session, 'sender', feed.peer, feed.snapshot()));
    }
    for (const source of this.#edges.values()) {
      for (const hop of source.snapshot().hops) {
        out.push(summary(hop.hopId, source.session, 'receiver', hop.peer, hop));
      }
    }
    return out;
  }

  snapshot(): CameraMeshSnapshot {
    return {
      address: this.#socket?.address ?? null,
      sending: [...this.#feeds.values()].map((feed) => ({ ...feed.snapshot(), peer: feed.peer })),
      receiving: [...this.#edges.values()].map((source) => source.snapshot()),
      drops: { ...Object.fromEntries(this.#drops), ...this.#socket?.drops() },
    };
  }

  close(): void {
    this.#options.meshState.off('change', this.#onChange);
    clearTimeout(this.#retry);
    clearInterval(this.#pathCheck);
    for (const feed of this.#feeds.values()) feed.close();
    this.#feeds.clear();
    this.#socket?.close();
  }

  #roleOf(session: string): MeshRole {
    const owner = this.#options.meshState.placements.nodeOf(session);
    if (owner === undefined) return this.#options.placesSessions() ? 'unplaced' : 'camera';
    return owner === this.#options.nodeId ? 'camera' : 'edge';
  }

  #edge(session: string, mediaHost: string): HopSource {
    const source: HopSource = new HopSource({
      session,
      mediaHost,
      owner: () => this.#options.meshState.placements.nodeOf(session),
      requestsChanged: () => this.#options.requestsChanged(),
      onClose: () => {
        if (this.#edges.get(session) === source) this.#edges.delete(session);
      },
      log: this.#log,
      now: Date.now,
    });
    void this.#edges.get(session)?.close();
    this.#edges.set(session, source);
    source.offer(this.#options.meshState.hops.receiving().get(session) ?? []);
    return source;
  }

  #follow(): void {
    for (const source of this.#sources) source.follow();
    const receiving = this.#options.meshState.hops.receiving();
    for (const [session, source] of this.#edges) source.offer(receiving.get(session) ?? []);
    this.#syncFeeds(this.#options.meshState.hops.sending());
  }

  #syncFeeds(sending: readonly HopBody[]): void {
    const wanted = new Map(sending.map((body) => [body.hopId, body]));
    for (const [hopId, feed] of this.#feeds) {
      if (wanted.has(hopId)) continue;
      feed.close();
      this.#feeds.delete(hopId);
    }
    const socket = this.#socket;
    if (socket === undefined) return;
    for (const body of sending) {
      const held = this.#feeds.get(body.hopId);
      try {
        if (held !== undefined) {
          held.update(body);
          continue;
        }
        const path = this.#options.pathNamed(body.session.slice(CAMERA_SESSION_PREFIX.length));
        if (!body.session.startsWith(CAMERA_SESSION_PREFIX) || path === undefined) {
          this.#count('no_such_path');
          this.#retryLater();
          continue;
        }
        this.#feeds.set(
          body.hopId,
          new HopFeed({ body, path, socket, log: this.#log, now: Date.now }),
        );
      } catch (error) {
        this.#count('hop_refused');
        this.#log.warn({ hop: body.hopId, reason: errorMessage(error) }, 'hop refused');
      }
    }
  }

  #followPaths(): void {
    for (const feed of this.#feeds.values()) {
      const path = this.#options.pathNamed(feed.session.slice(CAMERA_SESSION_PREFIX.length));
      if (path !== undefined && path !== feed.path) feed.moveTo(path);
    }
  }

  #retryLater(): void {
    if (this.#retry !== undefined) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#syncFeeds(this.#options.meshState.hops.sending());
    }, 1_000);
  }

  #count(reason: string): void {
    this.#drops.set(reason, (this.#drops.get(reason) ?? 0) + 1);
  }
}

function isUnspecified(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '::0';
}

function summary(
  hopId: string,
  session: string,
  role: 'sender' | 'receiver',
  peer: string,
  snapshot: {
    rtpPackets: number;
    lossFraction: number;
    jitterMs: number;
    rttMs: number | null;
    drops: Partial<Record<string, number>>;
  },
): HopStats {
  const drops = Object.values(snapshot.drops).reduce<number>((sum, n) => sum + (n ?? 0), 0);
  return {
    hopId,
    session,
    role,
    peer,
    rtpPackets: snapshot.rtpPackets,
    lossFraction: snapshot.lossFraction,
    jitterMs: snapshot.jitterMs,
    rttMs: snapshot.rttMs,
    drops,
  };
}
