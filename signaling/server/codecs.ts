/**
 * The codecs every room's Router offers: Opus, VP8 and H.264 (constrained
 * baseline, what browsers and the proxy's cameras share).
 */
import type { RouterCodecs } from '../sfu/index.js';

export const roomMediaCodecs: RouterCodecs = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
  {
    kind: 'video',
    mimeType: 'video/H264',
    clockRate: 90000,
    parameters: {
      'packetization-mode': 1,
      'profile-level-id': '42e01f',
      'level-asymmetry-allowed': 1,
    },
  },
];
