/**
 * Whether a codec a peer offers is one a mediasoup Router has: same MIME
 * type, clock rate and channels, and for the codecs whose fmtp changes the
 * bitstream, the same H.264 profile and packetization mode or VP9 profile.
 * These are the checks mediasoup itself applies to produce() and consume(),
 * so a codec chosen here is not refused there.
 */
import type { SdpCodec } from './parse.js';

/** What a codec match looks at; both SdpCodec and mediasoup's codec types have it. */
export interface CodecShape {
  readonly mimeType: string;
  readonly clockRate: number;
  readonly channels?: number | undefined;
  readonly parameters?: Readonly<Record<string, unknown>> | undefined;
}

/** Codecs that carry or protect another codec's packets rather than media of their own. */
const AUXILIARY = new Set(['rtx', 'red', 'ulpfec', 'flexfec-03', 'cn', 'telephone-event']);

export function isMediaCodec(codec: Pick<SdpCodec, 'mimeType'>): boolean {
  return !AUXILIARY.has(encodingName(codec.mimeType));
}

export function isRtxCodec(codec: Pick<SdpCodec, 'mimeType'>): boolean {
  return encodingName(codec.mimeType) === 'rtx';
}

export function sameCodec(a: CodecShape, b: CodecShape): boolean {
  const mimeType = a.mimeType.toLowerCase();
  if (mimeType !== b.mimeType.toLowerCase() || a.clockRate !== b.clockRate) return false;
  if (mimeType.startsWith('audio/') && (a.channels ?? 1) !== (b.channels ?? 1)) return false;
  const pa = a.parameters ?? {};
  const pb = b.parameters ?? {};
  switch (mimeType) {
    case 'video/h264':
      return (
        Number(pa['packetization-mode'] ?? 0) === Number(pb['packetization-mode'] ?? 0) &&
        h264Profile(pa['profile-level-id']) !== undefined &&
        h264Profile(pa['profile-level-id']) === h264Profile(pb['profile-level-id'])
      );
    case 'video/vp9':
      return Number(pa['profile-id'] ?? 0) === Number(pb['profile-id'] ?? 0);
    default:
      return true;
  }
}

export type H264Profile =
  | 'constrained-baseline'
  | 'baseline'
  | 'main'
  | 'constrained-high'
  | 'high'
  | 'predictive-high-444';

/**
 * profile_idc and the constraint bits of profile-iop (RFC 6184, H.264 Annex
 * A), as [profile_idc, bits that matter, their value]. Constrained Baseline
 * is signalled three ways.
 */
const PROFILE_PATTERNS: readonly [number, number, number, H264Profile][] = [
  [0x42, 0b0100_1111, 0b0100_0000, 'constrained-baseline'],
  [0x4d, 0b1000_1111, 0b1000_0000, 'constrained-baseline'],
  [0x58, 0b1100_1111, 0b1100_0000, 'constrained-baseline'],
  [0x42, 0b0100_1111, 0b0000_0000, 'baseline'],
  [0x58, 0b1100_1111, 0b1000_0000, 'baseline'],
  [0x4d, 0b1010_1111, 0b0000_0000, 'main'],
  [0x64, 0b1111_1111, 0b0000_0000, 'high'],
  [0x64, 0b1111_1111, 0b0000_1100, 'constrained-high'],
  [0xf4, 0b1111_1111, 0b0000_0000, 'predictive-high-444'],
];

/**
 * The H.264 profile of a profile-level-id; undefined when malformed or not
 * one WebRTC uses. Absent means 42e01f, as mediasoup reads it.
 */
export function h264Profile(profileLevelId: unknown): H264Profile | undefined {
  if (profileLevelId === undefined) return h264Profile('42e01f');
  if (typeof profileLevelId !== 'string' && typeof profileLevelId !== 'number') return undefined;
  const text = String(profileLevelId);
  if (!/^[0-9a-fA-F]{6}$/.test(text)) return undefined;
  const idc = Number.parseInt(text.slice(0, 2), 16);
  const iop = Number.parseInt(text.slice(2, 4), 16);
  const match = PROFILE_PATTERNS.find(
    ([profileIdc, mask, value]) => profileIdc === idc && (iop & mask) === value,
  );
  return match?.[3];
}

function encodingName(mimeType: string): string {
  return (mimeType.split('/')[1] ?? '').toLowerCase();
}
