/**
 * RTP header extension elements (RFC 8285): the contents of the RFC 3550
 * §5.3.1 extension block, for the two profiles that carry several elements.
 *
 * One-byte header (profile 0xBEDE, RFC 8285 §4.2): ID 1..14, 1..16 bytes.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |       0xBE    |    0xDE       |           length=3            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  ID   | L=0   |     data      |  ID   |  L=1  |   data...
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *       ...data   |    0 (pad)    |    0 (pad)    |  ID   | L=3   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                          data                                 |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Two-byte header (profile 0x100 + 4 app bits, RFC 8285 §4.3): ID 1..255,
 * 0..255 bytes.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |       0x10    |    0x00       |           length=3            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |      ID       |     L=0       |     ID        |     L=1       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |       data    |    0 (pad)    |       ID      |      L=4      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                          data                                 |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
import type { RtpHeaderExtension } from './rtp-packet.js';

export const ONE_BYTE_EXTENSION_PROFILE = 0xbede;
/** The two-byte profile with app bits 0; any 0x1000..0x100f is two-byte. */
export const TWO_BYTE_EXTENSION_PROFILE = 0x1000;

/** One extension element; `data` is a view into the packet. */
export interface HeaderExtensionElement {
  readonly id: number;
  readonly data: Buffer;
}

export function isOneByteProfile(profile: number): boolean {
  return profile === ONE_BYTE_EXTENSION_PROFILE;
}

export function isTwoByteProfile(profile: number): boolean {
  return profile >>> 4 === TWO_BYTE_EXTENSION_PROFILE >>> 4;
}

/**
 * The elements of a one-byte or two-byte extension block, skipping padding
 * bytes; null for another profile or when an element runs past the block.
 * A one-byte ID of 15 stops parsing, as RFC 8285 §4.2 requires.
 */
export function parseHeaderExtensionElements(
  extension: RtpHeaderExtension,
): HeaderExtensionElement[] | null {
  const { profile, data } = extension;
  const oneByte = isOneByteProfile(profile);
  if (!oneByte && !isTwoByteProfile(profile)) return null;
  const elements: HeaderExtensionElement[] = [];
  let offset = 0;
  while (offset < data.length) {
    const first = data[offset] ?? 0;
    if (first === 0) {
      offset += 1;
      continue;
    }
    let id: number;
    let length: number;
    if (oneByte) {
      id = first >>> 4;
      if (id === 15) break;
      length = (first & 0x0f) + 1;
      offset += 1;
    } else {
      const second = data[offset + 1];
      if (second === undefined) return null;
      id = first;
      length = second;
      offset += 2;
    }
    if (offset + length > data.length) return null;
    elements.push({ id, data: data.subarray(offset, offset + length) });
    offset += length;
  }
  return elements;
}

/**
 * Builds an extension block from elements, in order, zero-padded to a whole
 * number of 32-bit words. Uses the one-byte form when every element fits it
 * (ID 1..14, 1..16 bytes), else the two-byte form. Throws RangeError for an
 * element neither form can carry.
 */
export function serializeHeaderExtensionElements(
  elements: readonly HeaderExtensionElement[],
): RtpHeaderExtension {
  const oneByte = elements.every(
    (element) =>
      element.id >= 1 && element.id <= 14 && element.data.length >= 1 && element.data.length <= 16,
  );
  let length = 0;
  for (const element of elements) {
    if (!Number.isInteger(element.id) || element.id < 1 || element.id > 255) {
      throw new RangeError(`header extension id ${element.id} is not 1..255`);
    }
    if (element.data.length > 255) {
      throw new RangeError(`header extension ${element.id} is longer than 255 bytes`);
    }
    length += (oneByte ? 1 : 2) + element.data.length;
  }
  const data = Buffer.alloc((length + 3) & ~3);
  let offset = 0;
  for (const element of elements) {
    if (oneByte) {
      data[offset++] = (element.id << 4) | (element.data.length - 1);
    } else {
      data[offset++] = element.id;
      data[offset++] = element.data.length;
    }
    element.data.copy(data, offset);
    offset += element.data.length;
  }
  return {
    profile: oneByte ? ONE_BYTE_EXTENSION_PROFILE : TWO_BYTE_EXTENSION_PROFILE,
    data,
  };
}
