/**
 * One hop at its owner: the camera path's packets, as its viewers get them
 * (the path's SSRC and numbering, held back to a keyframe at the start),
 * protected under the hop's current key epoch and sent to the edge. To the
 * path it is one more viewer, so the owner pulls the camera once and sends
 * one copy per edge however many viewers each edge serves, and the path's
 * on-demand pull and linger count it like any viewer.
 *
 * The edge learns the stream from the description packet
 * (description-message.ts) sent at the start and every second after; the
 * edge's receiver reports come back through the HopSocket and give the
 * hop's loss, jitter and round trip (HopSender).
 */
import type { HopBody } from '../../../src/config/index.js';
import type { HopKey } from '../../../src/protocol/srtp/index.js';
import { HopSender, type HopSnapshot } from '../../../src/media/hop/index.js';
import { rewriteForProxy, serializeSdp } from '../../../src/protocol/sdp/index.js';
import { validHostPort, type HostPort } from '../../../src/shared/address.js';
import { errorMessage } from '../../../src/shared/errors.js';
import type { Logger } from '../../../src/shared/log.js';
import type { PathViewer, StreamPath } from '../rtsp/index.js';
import { buildDescriptionPacket } from './description-message.js';
import type { HopSocket } from './hop-socket.js';

/** How often the description is repeated, and a path that is not up yet asked again. */
const DESCRIPTION_INTERVAL_MS = 1_000;

export interface HopFeedOptions {
  readonly body: HopBody;
  readonly path: StreamPath;
  readonly socket: HopSocket;
  readonly log: Logger;
  /** Unix ms (RTT arithmetic is on NTP time). */
  readonly now: () => number;
}

export class HopFeed implements PathViewer {
  readonly id: string;
  readonly hopId: string;
  readonly session: string;
  readonly peer: string;
  tracks: ReadonlySet<number> = new Set();
  #path: StreamPath;
  readonly #socket: HopSocket;
  readonly #log: Logger;
  readonly #now: () => number;
  #sender: HopSender;
  /** The key packets go out with now. */
  #sendKey: HopKey;
  /** Where the edge receives (the body's receiverAddress), parsed, and the socket's hold on it. */
  #receiverAddress = '';
  #to: HostPort = { host: '', port: 0 };
  #detach: () => void = () => undefined;
  #timer: NodeJS.Timeout | undefined;
  #attached = false;
  #closed = false;
  #sendErrors = 0;

  /** Throws for a body whose keys the sender refuses (the caller counts it). */
  constructor(options: HopFeedOptions) {
    const { body } = options;
    this.hopId = body.hopId;
    this.id = `hop:${body.hopId}`;
    this.session = body.session;
    this.peer = body.receiver;
    this.#path = options.path;
    this.#socket = options.socket;
    this.#log = options.log;
    this.#now = options.now;
    const key = sendKeyOf(body);
    this.#sender = new HopSender({ key });
    this.#sendKey = key;
    this.#sendTo(body.receiverAddress);
    this.#tick();
  }

  /**
   * A newer body of this hop: the sender moves to its sendEpoch at the next
   * packet. A body whose key for an epoch differs from the one in use (a
   * control plane that lost the hop's keys and made new ones) starts a new
   * sender: its key is fresh, so starting its packet indices at 0 again is
   * safe, and the receiver starts over with the same keys. A body with
   * another receiverAddress (the edge's path restarted on a new socket; the
   * control plane keeps the hop and its keys) moves the hop there. Throws for
   * a bad key or address.
   */
  update(body: HopBody): void {
    const key = sendKeyOf(body);
    const current = this.#sendKey;
    if (body.receiverAddress !== this.#receiverAddress) {
      this.#sendTo(body.receiverAddress);
      // The new socket learns the stream now rather than at the next tick.
      if (this.#attached) this.#sendDescription();
    }
    if (key.epoch === current.epoch && key.key === current.key) return;
    if (key.epoch > current.epoch) {
      this.#sender.rotate(key, this.#now());
    } else if (key.epoch === current.epoch) {
      // Another key for the epoch in use: never seen by this sender, so
      // indices from 0 under it are safe.
      this.#sender = new HopSender({ key });
    } else {
      // An older epoch (a control plane that restored an end's older body):
      // this sender has used that key; going back to it would repeat indices.
      return;
    }
    this.#sendKey = key;
  }

  sendRtp(_track: number, packet: Buffer): boolean {
    const result = this.#sender.protectRtp(packet, this.#now());
    if (result.ok) this.#send(result.packet);
    return true;
  }

  sendRtcp(_track: number, packet: Buffer): void {
    const result = this.#sender.protectRtcp(packet, this.#now());
    if (result.ok) this.#send(result.packet);
  }

  snapshot(): HopSnapshot {
    return this.#sender.snapshot(this.#now());
  }

  /** The path this hop feeds from. */
  get path(): StreamPath {
    return this.#path;
  }

  /**
   * Feeds from `path` from now on: a config update replaced the camera's
   * path. The sender stays (its key must not start over at index 0); the
   * edge learns the new path's SSRC from the description sent at attach.
   */
  moveTo(path: StreamPath): void {
    if (this.#closed || path === this.#path) return;
    this.#path.removeViewer(this);
    this.#path = path;
    this.#attached = false;
    clearTimeout(this.#timer);
    this.#tick();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#detach();
    this.#path.removeViewer(this);
  }

  /**
   * Until the path is up, asks for its description (which starts an
   * on-demand camera) and attaches once it has one; then sends the
   * description. Every second, whatever happens.
   */
  #tick(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => this.#tick(), DESCRIPTION_INTERVAL_MS);
    const known = this.#path.description;
    if (known === undefined || !this.#attached) {
      this.#path.describe().then(
        () => this.#attach(),
        (error: unknown) => {
          this.#log.debug(
            { hop: this.hopId, reason: errorMessage(error) },
            'hop waits for its path',
          );
        },
      );
      return;
    }
    this.#sendDescription();
  }

  /** Sends to `address` and takes the reports coming from it. Throws for a bad address. */
  #sendTo(address: string): void {
    const to = validHostPort(address);
    this.#detach();
    this.#to = to;
    this.#receiverAddress = address;
    this.#detach = this.#socket.attach(address, (datagram) => {
      this.#sender.receiveRtcp(datagram, this.#now());
    });
  }

  #attach(): void {
    const description = this.#path.description;
    if (this.#closed || description === undefined) return;
    this.tracks = new Set(description.tracks.map((track) => track.index));
    if (!this.#attached) {
      this.#attached = true;
      this.#path.addViewer(this);
      this.#log.info({ hop: this.hopId, to: this.peer }, 'hop feeding its edge');
    }
    this.#sendDescription();
  }

  #sendDescription(): void {
    const description = this.#path.description;
    if (description === undefined) return;
    const ssrcs = description.tracks.map((track) => this.#path.ssrcOf(track.index) ?? 0);
    const sdp = serializeSdp(
      rewriteForProxy(description.sdp, {
        address: '0.0.0.0',
        controlFor: (index) => `trackID=${index}`,
      }),
    );
    const plain = buildDescriptionPacket(ssrcs[0] ?? 0, { sdp, ssrcs });
    if (plain === undefined) {
      this.#log.warn({ hop: this.hopId }, 'description too large for a hop datagram; not sent');
      return;
    }
    this.sendRtcp(0, plain);
  }

  #send(datagram: Buffer): void {
    try {
      this.#socket.send(datagram, this.#to);
    } catch (error) {
      this.#sendErrors += 1;
      if (this.#sendErrors === 1) {
        this.#log.warn({ hop: this.hopId, err: errorMessage(error) }, 'hop send failed');
      }
    }
  }
}

function sendKeyOf(body: HopBody): HopKey {
  const key = body.keys.find((candidate) => candidate.epoch === body.sendEpoch);
  if (key === undefined) throw new Error(`hop ${body.hopId}: no key for sendEpoch`);
  return key;
}
