/**
 * Property test of the RTP parsers over 100,000+ inputs a run: random
 * buffers, mutants (bit flips, truncations, extensions) of the valid fixtures,
 * and random valid packets, some mutated.
 *
 * - `checkRtp` never throws.
 * - When it accepts, the accessors stay within the buffer, agree with
 *   `RtpPacket.deserialize` (which succeeds), and the packet re-serializes
 *   byte for byte.
 * - When it refuses, `RtpPacket.deserialize` throws RtpParseError with the
 *   same reason.
 *
 * The seed is printed; replay a failure with STREAMMESH_FUZZ_SEED=<seed>.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkRtp,
  rtpHeaderLength,
  rtpMarker,
  rtpPayloadLength,
  rtpPayloadType,
  rtpSequenceNumber,
  rtpSsrc,
  rtpTimestamp,
  RtpPacket,
  RtpParseError,
} from '../../../../src/protocol/rtp/index.js';
import { randomRtpPacket } from '../../../helpers/protocol/rtp-generators.js';
import {
  expectedReason,
  fuzzSeed,
  mutate,
  readFixtures,
  Xorshift32,
} from '../../../helpers/protocol/rtp-support.js';

const RANDOM_BUFFERS = 40_000;
const FIXTURE_MUTANTS = 40_000;
const GENERATED = 20_000;

function checkOne(input: Buffer): boolean {
  const reason = checkRtp(input);
  if (reason !== null) {
    assert.throws(
      () => RtpPacket.deserialize(input),
      (error: unknown) => error instanceof RtpParseError && error.reason === reason,
    );
    return false;
  }
  const headerLength = rtpHeaderLength(input);
  const payloadLength = rtpPayloadLength(input);
  assert.ok(headerLength >= 12 && payloadLength >= 0, 'lengths are not negative');
  assert.ok(headerLength + payloadLength <= input.length, 'header + payload within the packet');
  const packet = RtpPacket.deserialize(input);
  assert.equal(rtpPayloadType(input), packet.payloadType);
  assert.equal(rtpSequenceNumber(input), packet.sequenceNumber);
  assert.equal(rtpTimestamp(input), packet.timestamp);
  assert.equal(rtpSsrc(input), packet.ssrc);
  assert.equal(rtpMarker(input), packet.marker);
  assert.equal(headerLength, packet.headerLength);
  assert.equal(payloadLength, packet.payload.length);
  assert.equal(headerLength + payloadLength + packet.padding.length, input.length);
  assert.ok(packet.serialize().equals(input), 'round-trips byte for byte');
  return true;
}

describe('RTP fuzz', () => {
  it('checkRtp, the accessors and RtpPacket agree on 100,000 inputs', (t) => {
    const seed = fuzzSeed();
    t.diagnostic(`seed ${seed} (replay with STREAMMESH_FUZZ_SEED=${seed})`);
    const random = new Xorshift32(seed);
    const valid = [...readFixtures('rtp')]
      .filter(([name]) => expectedReason(name) === null)
      .map(([, buffer]) => buffer);
    const accepted = { random: 0, mutants: 0, generated: 0 };
    let count = 0;
    const run = (input: Buffer, kind: keyof typeof accepted): void => {
      count++;
      try {
        if (checkOne(input)) accepted[kind]++;
      } catch (error) {
        throw new Error(
          `RTP fuzz failed: seed ${seed}, input #${count} (${kind}) ${input.toString('hex')}; ` +
            `replay with STREAMMESH_FUZZ_SEED=${seed}`,
          { cause: error },
        );
      }
    };

    const started = performance.now();
    for (let i = 0; i < RANDOM_BUFFERS; i++) run(random.bytes(random.between(0, 1500)), 'random');
    for (let i = 0; i < FIXTURE_MUTANTS; i++) run(mutate(random, random.pick(valid)), 'mutants');
    for (let i = 0; i < GENERATED; i++) {
      const packet = randomRtpPacket(random, { maxPayload: 200 }).serialize();
      run(random.chance(0.5) ? packet : mutate(random, packet), 'generated');
    }
    const ms = performance.now() - started;

    t.diagnostic(
      `${count} inputs in ${ms.toFixed(0)} ms; accepted: ${accepted.random} random, ` +
        `${accepted.mutants} mutants, ${accepted.generated} generated`,
    );
    assert.ok(count >= 100_000);
    // The properties above only bite on accepted inputs: make sure there are many.
    assert.ok(accepted.mutants > FIXTURE_MUTANTS / 10, 'too few mutants were valid');
    assert.ok(accepted.generated > GENERATED / 2, 'too few generated packets were valid');
  });
});
