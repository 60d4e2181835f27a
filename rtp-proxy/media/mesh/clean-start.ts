/**
 * Whether a packet is a clean place to switch a stream's source: for video
 * the start of a keyframe (H.264 or H.265), so viewers' decoders go from one
 * whole picture to another; for audio and codecs we cannot read, any packet.
 */
import type { SourceDescription } from '../../../src/media/source/index.js';
import { rtpHeaderLength } from '../../../src/protocol/rtp/index.js';
import { h264StartsKeyframe, h265StartsKeyframe } from '../../../src/protocol/video/index.js';

export function startsCleanly(
  description: SourceDescription,
  track: number,
  packet: Buffer,
): boolean {
  const info = description.tracks[track];
  if (info?.kind !== 'video') return true;
  const payload = packet.subarray(rtpHeaderLength(packet));
  if (info.encoding === 'H264') return h264StartsKeyframe(payload);
  if (info.encoding === 'H265') return h265StartsKeyframe(payload);
  return true;
}
