/**
 * H.264 Annex B byte streams (ITU-T H.264 Annex B): NAL units behind start
 * codes, as `ffmpeg -f h264` writes them and as encoders hand them out.
 *
 *   [leading zeros] 00 00 01 <NAL> [trailing zeros] 00 00 00 01 <NAL> ...
 *
 * and their grouping into access units (one coded picture each, §7.4.1.2.3),
 * which is what an RTP packetizer gives one timestamp and one marker bit.
 *
 * Only a header byte is ever interpreted; everything else is sliced, never
 * parsed, so hostile input can cost a scan but not a crash.
 */

/** nal_unit_type values this module and its callers name (H.264 Table 7-1). */
export const H264NalType = {
  NON_IDR_SLICE: 1,
  IDR_SLICE: 5,
  SEI: 6,
  SPS: 7,
  PPS: 8,
  AUD: 9,
} as const;

/** The 5-bit nal_unit_type of a NAL unit; -1 for an empty one. */
export function nalUnitType(nal: Uint8Array): number {
  const header = nal[0];
  return header === undefined ? -1 : header & 0x1f;
}

/** A coded slice (types 1..5): the NAL units that carry picture data. */
export function isVclNalUnit(nal: Uint8Array): boolean {
  const type = nalUnitType(nal);
  return type >= 1 && type <= 5;
}

/**
 * The NAL units of an Annex B stream, as views into `stream` (copy them to
 * keep them past `stream`). Start codes of three and four bytes are both
 * found (a four-byte one is a zero byte before a three-byte one); zero bytes
 * before a start code are trailing_zero_8bits and are dropped, since a NAL
 * unit never ends in 0x00 (§7.4.1: rbsp_trailing_bits end in a one bit).
 * Bytes before the first start code are not a NAL unit and are skipped.
 */
export function splitAnnexB(stream: Uint8Array): Buffer[] {
  const bytes = Buffer.from(stream.buffer, stream.byteOffset, stream.byteLength);
  const units: Buffer[] = [];
  let start = -1; // first byte of the current NAL unit, after its start code
  let index = 0;
  while (index + 2 < bytes.length) {
    const third = bytes[index + 2];
    if (third === 0x00) {
      index += 1;
    } else if (third === 0x01 && bytes[index] === 0x00 && bytes[index + 1] === 0x00) {
      if (start >= 0) pushTrimmed(units, bytes, start, index);
      index += 3;
      start = index;
    } else {
      // No start code begins at index..index+2: each needs this byte to be
      // 0x00, or 0x01 after two zeros.
      index += 3;
    }
  }
  if (start >= 0) pushTrimmed(units, bytes, start, bytes.length);
  return units;
}

function pushTrimmed(units: Buffer[], bytes: Buffer, start: number, end: number): void {
  let last = end;
  while (last > start && bytes[last - 1] === 0x00) last--;
  if (last > start) units.push(bytes.subarray(start, last));
}

/**
 * Does this slice begin a picture? first_mb_in_slice is the first syntax
 * element after the header (§7.3.3), coded ue(v); it is 0 exactly when its
 * first bit is 1. A stream that sends a picture's slices out of order
 * (arbitrary slice order, baseline only) would fool this; encoders that
 * feed RTSP cameras do not.
 */
export function startsPicture(nal: Uint8Array): boolean {
  const first = nal[1];
  return isVclNalUnit(nal) && first !== undefined && (first & 0x80) !== 0;
}

/**
 * NAL units grouped into access units, in order (§7.4.1.2.3). After a
 * picture's slices, the first of these starts the next access unit: an
 * access unit delimiter (which starts one whatever came before), SPS, PPS,
 * SEI, types 14..18, or a slice that begins a new picture. Anything before
 * the first slice of a unit (parameter sets, SEI) belongs to that unit, and
 * NAL units that follow a picture (end of sequence, filler) stay with it.
 */
export function groupAccessUnits(nals: readonly Buffer[]): Buffer[][] {
  const units: Buffer[][] = [];
  let current: Buffer[] = [];
  let hasPicture = false;
  for (const nal of nals) {
    if (current.length > 0 && startsAccessUnit(nal, hasPicture)) {
      units.push(current);
      current = [];
      hasPicture = false;
    }
    current.push(nal);
    if (isVclNalUnit(nal)) hasPicture = true;
  }
  if (current.length > 0) units.push(current);
  return units;
}

function startsAccessUnit(nal: Uint8Array, afterPicture: boolean): boolean {
  const type = nalUnitType(nal);
  if (type === H264NalType.AUD) return true;
  if (!afterPicture) return false;
  if (type === H264NalType.SEI || type === H264NalType.SPS || type === H264NalType.PPS) {
    return true;
  }
  if (type >= 14 && type <= 18) return true;
  return startsPicture(nal);
}
