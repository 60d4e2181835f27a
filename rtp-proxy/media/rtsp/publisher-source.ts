/**
 * A publisher's stream (ANNOUNCE, SETUP mode=record, RECORD) as the source of
 * its path. The RTSP session that received RECORD pushes the packets in; the
 * source is up from RECORD until the publisher tears down or disconnects.
 */
import type {
  MediaSource,
  SourceDescription,
  SourceListener,
  SourceState,
} from '../../../src/media/source/index.js';

/** Ends that are no failure of the publisher (the reasons given to RtspSession.close). */
const ORDERLY_ENDS: ReadonlySet<string> = new Set(['teardown', 'path changed', 'proxy stopping']);

export class PublisherSource implements MediaSource {
  readonly reconnects = 0;
  readonly transport: 'udp' | 'tcp';
  readonly #description: SourceDescription;
  #listener: SourceListener | undefined;
  #state: SourceState = 'idle';
  #lastError: string | null = null;

  constructor(description: SourceDescription, transport: 'udp' | 'tcp') {
    this.#description = description;
    this.transport = transport;
  }

  get state(): SourceState {
    return this.#state;
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  start(listener: SourceListener): void {
    this.#listener = listener;
    this.#state = 'playing';
    listener.ready(this.#description);
  }

  rtp(track: number, packet: Buffer): void {
    if (this.#state === 'playing') this.#listener?.rtp(track, packet);
  }

  rtcp(track: number, packet: Buffer): void {
    if (this.#state === 'playing') this.#listener?.rtcp(track, packet);
  }

  /**
   * The publisher is gone (TEARDOWN, disconnect or session timeout). Leaving
   * without TEARDOWN is kept as the path's lastError.
   */
  end(reason: string): void {
    if (this.#state !== 'playing') return;
    this.#state = 'closed';
    this.#lastError = reason;
    if (!ORDERLY_ENDS.has(reason)) {
      this.#listener?.failed?.({
        message: `the publisher left without TEARDOWN: ${reason}`,
        code: 'ERR_PUBLISHER_GONE',
      });
    }
    this.#listener?.down(reason);
  }

  close(): Promise<void> {
    this.#state = 'closed';
    this.#listener = undefined;
    return Promise.resolve();
  }
}
