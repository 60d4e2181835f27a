/**
 * One RTSP session (RFC 2326 §3.4): a viewer playing a path, or a publisher
 * recording to it. It holds a transport per set-up track and is the viewer
 * the path fans packets out to.
 */
import { randomBytes } from 'node:crypto';
import type { PublisherSource } from './publisher-source.js';
import type { PathViewer, StreamPath } from './stream-path.js';
import type { TrackTransport } from './track-transport.js';

export type SessionMode = 'play' | 'record';

export interface SessionOwner {
  /** The connection that created the session; TCP-interleaved sessions die with it. */
  readonly id: number;
  readonly remoteAddress: string;
}

export class RtspSession implements PathViewer {
  readonly id = randomBytes(8).toString('hex');
  readonly mode: SessionMode;
  readonly path: StreamPath;
  readonly owner: SessionOwner;
  readonly transports = new Map<number, TrackTransport>();
  readonly tracks = new Set<number>();
  readonly createdMs: number;
  lastActivityMs: number;
  playing = false;
  packetsSent = 0;
  bytesSent = 0;
  packetsDropped = 0;
  bytesReceived = 0;
  /** A publisher's stream once RECORD has been received. */
  publisher: PublisherSource | undefined;

  constructor(mode: SessionMode, path: StreamPath, owner: SessionOwner, nowMs: number) {
    this.mode = mode;
    this.path = path;
    this.owner = owner;
    this.createdMs = nowMs;
    this.lastActivityMs = nowMs;
  }

  /** 'udp', 'tcp', or 'mixed' when tracks differ; null before SETUP. */
  get transport(): 'udp' | 'tcp' | 'mixed' | null {
    const kinds = new Set([...this.transports.values()].map((t) => t.kind));
    if (kinds.size === 0) return null;
    if (kinds.size > 1) return 'mixed';
    return kinds.has('udp') ? 'udp' : 'tcp';
  }

  /** Only TCP-interleaved tracks: the session cannot outlive its connection. */
  get boundToConnection(): boolean {
    return this.transport === 'tcp';
  }

  addTransport(track: number, transport: TrackTransport): void {
    this.transports.get(track)?.close();
    this.transports.set(track, transport);
    this.tracks.add(track);
  }

  sendRtp(track: number, packet: Buffer): boolean {
    const transport = this.transports.get(track);
    if (transport === undefined) return true;
    if (!transport.sendRtp(packet)) {
      this.packetsDropped += 1;
      return false;
    }
    this.packetsSent += 1;
    this.bytesSent += packet.length;
    return true;
  }

  sendRtcp(track: number, packet: Buffer): void {
    this.transports.get(track)?.sendRtcp(packet);
  }

  /** Ends the session: leaves the path, ends a publisher's stream, frees transports. */
  close(reason: string): void {
    if (this.playing) this.path.removeViewer(this);
    this.playing = false;
    this.publisher?.end(reason);
    for (const transport of this.transports.values()) transport.close();
    this.transports.clear();
  }
}
