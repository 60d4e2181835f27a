/**
 * Does this RTP payload start a picture a decoder can begin at? An RTSP
 * proxy holds a late-joining viewer back until it does, so the viewer's
 * decoder starts clean (issue: late joiner starts at the next keyframe).
 *
 * H.264 (RFC 6184): NAL header F|NRI|Type(5). Starts: IDR slice (5), SPS (7);
 * STAP-A (24) aggregating one of those; FU-A (28) with the S bit whose
 * original type is one of those.
 *
 * H.265 (RFC 7798): NAL header F|Type(6)|LayerId(6)|TID(3), two bytes.
 * Starts: IRAP pictures (16..21), VPS/SPS/PPS (32..34); AP (48) aggregating
 * one of those; FU (49) with the S bit whose FuType is one of those.
 *
 * Reads only within `payload`; a truncated payload is simply not a start.
 */

const H264_IDR = 5;
const H264_SPS = 7;
const H264_STAP_A = 24;
const H264_FU_A = 28;

const H265_AP = 48;
const H265_FU = 49;

function h264Starts(type: number): boolean {
  return type === H264_IDR || type === H264_SPS;
}

function h265Starts(type: number): boolean {
  return (type >= 16 && type <= 21) || (type >= 32 && type <= 34);
}

export function h264StartsKeyframe(payload: Uint8Array): boolean {
  const header = payload[0];
  if (header === undefined) return false;
  const type = header & 0x1f;
  if (type === H264_STAP_A) {
    // STAP-A: [header][size16][NALU]...; look at every aggregated unit.
    let offset = 1;
    while (offset + 2 < payload.length) {
      const size = ((payload[offset] ?? 0) << 8) | (payload[offset + 1] ?? 0);
      const unit = payload[offset + 2];
      if (size === 0 || unit === undefined) return false;
      if (h264Starts(unit & 0x1f)) return true;
      offset += 2 + size;
    }
    return false;
  }
  if (type === H264_FU_A) {
    const fu = payload[1];
    return fu !== undefined && (fu & 0x80) !== 0 && h264Starts(fu & 0x1f);
  }
  return h264Starts(type);
}

export function h265StartsKeyframe(payload: Uint8Array): boolean {
  const first = payload[0];
  if (first === undefined || payload.length < 2) return false;
  const type = (first >> 1) & 0x3f;
  if (type === H265_AP) {
    // AP: [header 2][size16][NALU]...; no DONL (sprop-max-don-diff is 0 for cameras).
    let offset = 2;
    while (offset + 2 < payload.length) {
      const size = ((payload[offset] ?? 0) << 8) | (payload[offset + 1] ?? 0);
      const unit = payload[offset + 2];
      if (size === 0 || unit === undefined) return false;
      if (h265Starts((unit >> 1) & 0x3f)) return true;
      offset += 2 + size;
    }
    return false;
  }
  if (type === H265_FU) {
    const fu = payload[2];
    return fu !== undefined && (fu & 0x80) !== 0 && h265Starts(fu & 0x3f);
  }
  return h265Starts(type);
}
