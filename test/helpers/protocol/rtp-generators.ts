/**
 * Random, valid RTP packets for the fuzz and cross-check tests.
 */
import {
  RtpPacket,
  serializeHeaderExtensionElements,
  type HeaderExtensionElement,
  type RtpHeaderExtension,
} from '../../../src/protocol/rtp/index.js';
import type { Xorshift32 } from './rtp-support.js';

export interface RandomRtpOptions {
  /** Which extension forms to draw from (default: all three). */
  readonly extensions?: readonly ('one-byte' | 'two-byte' | 'raw')[];
  readonly maxPayload?: number;
}

function randomElements(random: Xorshift32, oneByte: boolean): HeaderExtensionElement[] {
  const elements: HeaderExtensionElement[] = [];
  const count = random.between(1, 5);
  for (let i = 0; i < count; i++) {
    elements.push(
      oneByte
        ? { id: random.between(1, 14), data: random.bytes(random.between(1, 16)) }
        : { id: random.between(15, 255), data: random.bytes(random.between(0, 40)) },
    );
  }
  return elements;
}

export function randomExtension(
  random: Xorshift32,
  form: 'one-byte' | 'two-byte' | 'raw',
): RtpHeaderExtension {
  if (form === 'raw') {
    return { profile: random.below(0x10000), data: random.bytes(random.between(0, 6) * 4) };
  }
  return serializeHeaderExtensionElements(randomElements(random, form === 'one-byte'));
}

export function randomRtpPacket(random: Xorshift32, options: RandomRtpOptions = {}): RtpPacket {
  const forms = options.extensions ?? ['one-byte', 'two-byte', 'raw'];
  const csrcCount = random.chance(0.8) ? 0 : random.between(1, 15);
  return new RtpPacket({
    marker: random.chance(0.3),
    payloadType: random.below(128),
    sequenceNumber: random.below(0x10000),
    timestamp: random.next(),
    ssrc: random.next(),
    csrcs: Array.from({ length: csrcCount }, () => random.next()),
    extension:
      forms.length > 0 && random.chance(0.6) ? randomExtension(random, random.pick(forms)) : null,
    payload: random.bytes(random.between(0, options.maxPayload ?? 1200)),
    padding: random.chance(0.2) ? RtpPacket.padding(random.between(1, 255)) : Buffer.alloc(0),
  });
}
