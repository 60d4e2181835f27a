/**
 * Whether a packet is a clean place to switch a stream's source: for video
 * the start of a keyframe (H.264 or H.265), so viewers' decoders go from one
 * whole picture to another; for audio and codecs we cannot read, any packet,
 * except that a stream with a video track we can read switches at its
 * keyframe only (at an audio packet, the picture would start mid-GOP and
 * viewers would wait for the next keyframe on a frozen picture).
 */
import type { SourceDescription, SourceTrack } from '../../../src/media/source/index.js';
import { rtpHeaderLength } from '../../../src/protocol/rtp/index.js';
import { h264StartsKeyframe, h265StartsKeyframe } from '../../../src/protocol/video/index.js';

export function startsCleanly(
  description: SourceDescription,
  track: number,
  packet: Buffer,
): boolean {
  const info = description.tracks[track];
  if (info === undefined || !hasKeyframes(info)) {
    return !description.tracks.some(hasKeyframes);
  }
  const payload = packet.subarray(rtpHeaderLength(packet));
  return info.encoding === 'H264' ? h264StartsKeyframe(payload) : h265StartsKeyframe(payload);
}

/** A video track whose keyframes we can tell. */
function hasKeyframes(track: SourceTrack): boolean {
  return track.kind === 'video' && (track.encoding === 'H264' || track.encoding === 'H265');
}
