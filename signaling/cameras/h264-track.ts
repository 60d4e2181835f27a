/**
 * The H.264 track of a camera's session description, as the SFU needs it to
 * build a mediasoup Router and Producer (RFC 6184 §8.1 media type
 * parameters):
 *
 *   m=video 0 RTP/AVP 96
 *   a=rtpmap:96 H264/90000
 *   a=fmtp:96 packetization-mode=1;profile-level-id=42c01f;sprop-parameter-sets=Z0LAH9kA...,aMuMsg==
 *
 * mediasoup matches H.264 by profile, so the profile-level-id must be right:
 * from fmtp, else from the SPS in sprop-parameter-sets (its bytes 1..3 are
 * profile_idc, the constraint flags and level_idc), else mediasoup's own
 * default 42e01f (Constrained Baseline 3.1). Only profiles browsers decode
 * are accepted: Baseline (42), Main (4d), High (64).
 */
import { attributes, rtpMaps, type Sdp, type SdpMedia } from '../../src/protocol/sdp/index.js';
import { CameraPullError } from './camera-errors.js';

export interface H264Track {
  /** Index of the media section: the RTSP client's track number. */
  readonly index: number;
  readonly payloadType: number;
  /** Six lower-case hex digits. */
  readonly profileLevelId: string;
  /** 0 single NAL unit, 1 non-interleaved (FU-A, STAP-A); 2 (interleaved) is refused. */
  readonly packetizationMode: 0 | 1;
}

/** The RTP clock of H.264 (RFC 6184 §8.2.1). */
export const H264_CLOCK_RATE = 90_000;
const DEFAULT_PROFILE_LEVEL_ID = '42e01f';
const PROFILE_LEVEL_ID = /^[0-9a-f]{6}$/i;
const SPS_NAL_TYPE = 7;
/** profile_idc values browsers decode (WebRTC's H.264 profiles). */
const BROWSER_PROFILES: ReadonlyMap<number, string> = new Map([
  [0x42, 'Baseline'],
  [0x4d, 'Main'],
  [0x64, 'High'],
]);

/** The first H.264/90000 format of the first video section; throws CameraPullError. */
export function findH264Track(sdp: Sdp, camera: string): H264Track {
  for (const [index, media] of sdp.media.entries()) {
    if (media.kind !== 'video') continue;
    const map = rtpMaps(media).find(
      (entry) =>
        entry.encoding.toUpperCase() === 'H264' &&
        entry.clockRate === H264_CLOCK_RATE &&
        media.formats.includes(String(entry.payloadType)),
    );
    if (map === undefined) continue;
    return trackOf(index, map.payloadType, formatParameters(media, map.payloadType), camera);
  }
  const found = sdp.media
    .map((media) => `${media.kind} ${rtpMaps(media)[0]?.encoding ?? media.formats.join(',')}`)
    .join(', ')
    .slice(0, 200);
  throw new CameraPullError(
    'ERR_CAMERA_NO_H264',
    `camera ${camera} has no H.264 video track (it offers ${found === '' ? 'nothing' : found}); WHEP plays H.264 only`,
  );
}

function trackOf(
  index: number,
  payloadType: number,
  parameters: ReadonlyMap<string, string>,
  camera: string,
): H264Track {
  const mode = parameters.get('packetization-mode') ?? '0';
  if (mode !== '0' && mode !== '1') {
    throw new CameraPullError(
      'ERR_CAMERA_UNSUPPORTED',
      `camera ${camera} sends H.264 in packetization-mode ${mode.slice(0, 8)}; browsers take 0 or 1`,
    );
  }
  const profileLevelId = profileLevelIdOf(parameters);
  const profile = BROWSER_PROFILES.get(Number.parseInt(profileLevelId.slice(0, 2), 16));
  if (profile === undefined) {
    throw new CameraPullError(
      'ERR_CAMERA_UNSUPPORTED',
      `camera ${camera} sends H.264 profile-level-id ${profileLevelId}; browsers decode Baseline, Main and High only`,
    );
  }
  return { index, payloadType, profileLevelId, packetizationMode: mode === '0' ? 0 : 1 };
}

function profileLevelIdOf(parameters: ReadonlyMap<string, string>): string {
  const given = parameters.get('profile-level-id');
  if (given !== undefined && PROFILE_LEVEL_ID.test(given)) return given.toLowerCase();
  const sps = parameters.get('sprop-parameter-sets')?.split(',')[0];
  if (sps !== undefined) {
    const bytes = Buffer.from(sps, 'base64');
    if (bytes.length >= 4 && ((bytes[0] ?? 0) & 0x1f) === SPS_NAL_TYPE) {
      return bytes.subarray(1, 4).toString('hex');
    }
  }
  return DEFAULT_PROFILE_LEVEL_ID;
}

/** `a=fmtp:<pt> name=value;name=value` of one format (RFC 8866 §6.15); names lower-cased. */
function formatParameters(media: SdpMedia, payloadType: number): Map<string, string> {
  const parameters = new Map<string, string>();
  const prefix = `${payloadType} `;
  const fmtp = attributes(media.lines, 'fmtp').find((value) => value.startsWith(prefix));
  if (fmtp === undefined) return parameters;
  for (const pair of fmtp.slice(prefix.length).split(';')) {
    const equals = pair.indexOf('=');
    if (equals <= 0) continue;
    parameters.set(pair.slice(0, equals).trim().toLowerCase(), pair.slice(equals + 1).trim());
  }
  return parameters;
}
