/**
 * Continuity rewrite (RTSP fan-out, camera pull): the track's own SSRC and
 * sequence numbers and timestamps that continue across source restarts
 * (src/media/source/continuity.ts), in place, timed by the chain's clock.
 */
import type { TrackContinuity } from '../source/index.js';
import { PASS, type Interceptor } from './interceptor.js';
import type { MediaPacket } from './media-packet.js';

export class ContinuityRewrite implements Interceptor {
  readonly name = 'continuity-rewrite';
  readonly #continuity: TrackContinuity;

  constructor(continuity: TrackContinuity) {
    this.#continuity = continuity;
  }

  process(packet: MediaPacket): undefined {
    this.#continuity.rewrite(packet.buffer, packet.arrivalMs);
    return PASS;
  }
}
