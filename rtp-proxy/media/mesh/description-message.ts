/**
 * How an owner tells an edge what the stream is: an RTCP APP packet (RFC
 * 3550 §6.7) named `SMSD` carried over the hop's SRTCP, holding the session
 * description the owner's viewers get (camera URLs already replaced, so no
 * credential crosses) and the SSRC of each track, in track order:
 *
 *   APP subtype 0, name "SMSD", data = JSON {"sdp": "...", "ssrcs": [n, ...]}
 *   padded with spaces to a whole word
 *
 * It travels in-band, repeated every second, so an edge learns it from the
 * hop itself: no round trip through the control plane, and a lost copy is
 * followed by the next. A description of more than MAX_DESCRIPTION_BYTES is
 * not sent (a hop datagram must fit a path MTU without IP fragmentation).
 */
import { App, parseRtcpCompound } from '../../../src/protocol/rtcp/index.js';

export const DESCRIPTION_APP_NAME = 'SMSD';
/** Bytes of JSON a description may take: with headers and SRTCP it fits a 1500-byte MTU. */
export const MAX_DESCRIPTION_BYTES = 1400;

export interface HopDescription {
  /** The SDP the owner's viewers are given. */
  readonly sdp: string;
  /** The SSRC of each track as the owner sends it, by track index. */
  readonly ssrcs: readonly number[];
}

/** The APP packet of a description, or undefined when it is too large to send. */
export function buildDescriptionPacket(
  senderSsrc: number,
  description: HopDescription,
): Buffer | undefined {
  const json = JSON.stringify({ sdp: description.sdp, ssrcs: description.ssrcs });
  const length = Buffer.byteLength(json);
  if (length > MAX_DESCRIPTION_BYTES) return undefined;
  const data = Buffer.alloc(Math.ceil(length / 4) * 4, 0x20);
  data.write(json, 'utf8');
  return new App({ subtype: 0, ssrc: senderSsrc, name: DESCRIPTION_APP_NAME, data }).serialize();
}

/**
 * The description an RTCP compound from a hop carries: undefined when it
 * carries none, 'invalid' for an SMSD packet that does not read as one (it
 * came authenticated from the owner, so that is a bug there; it is counted).
 */
export function readDescription(compound: Buffer): HopDescription | 'invalid' | undefined {
  const parsed = parseRtcpCompound(compound);
  if (!parsed.ok) return undefined;
  for (const packet of parsed.packets) {
    if (packet.type !== 'app' || packet.name !== DESCRIPTION_APP_NAME) continue;
    return parseDescription(packet.data.toString('utf8'));
  }
  return undefined;
}

function parseDescription(text: string): HopDescription | 'invalid' {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'invalid';
  }
  if (typeof value !== 'object' || value === null) return 'invalid';
  const { sdp, ssrcs } = value as { sdp?: unknown; ssrcs?: unknown };
  if (typeof sdp !== 'string' || !Array.isArray(ssrcs)) return 'invalid';
  if (!ssrcs.every((ssrc) => Number.isInteger(ssrc) && ssrc >= 0 && ssrc <= 0xffff_ffff)) {
    return 'invalid';
  }
  return { sdp, ssrcs: ssrcs as number[] };
}
