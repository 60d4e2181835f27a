/**
 * Property test of the RTCP parser over 100,000+ inputs a run: random
 * buffers, mutants (bit flips, truncations, extensions) of the valid
 * fixtures, and random valid compounds, some mutated.
 *
 * - `parseRtcpCompound` never throws, and answers ok or a known reason.
 * - When it accepts, `serializeRtcpCompound` gives back the input byte for
 *   byte (padding included: the codec keeps it), and every packet renders
 *   as JSON.
 *
 * The seed is printed; replay a failure with STREAMMESH_FUZZ_SEED=<seed>.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseRtcpCompound,
  serializeRtcpCompound,
  type RtcpDropReason,
} from '../../../../src/protocol/rtcp/index.js';
import {
  expectedReason,
  fuzzSeed,
  mutate,
  readFixtures,
  Xorshift32,
} from '../../../helpers/protocol/rtp-support.js';
import { randomCompound } from '../../../helpers/protocol/rtcp-generators.js';

const RANDOM_BUFFERS = 40_000;
const VERSION_2_BUFFERS = 10_000;
const FIXTURE_MUTANTS = 35_000;
const GENERATED = 15_000;

const REASONS = new Set<RtcpDropReason>([
  'runt',
  'bad_version',
  'bad_length',
  'bad_padding',
  'bad_count',
  'malformed',
]);

function checkOne(input: Buffer): boolean {
  const result = parseRtcpCompound(input);
  if (!result.ok) {
    assert.ok(REASONS.has(result.reason), `unknown reason ${result.reason}`);
    return false;
  }
  assert.ok(result.packets.length > 0);
  assert.ok(serializeRtcpCompound(result.packets).equals(input), 'round-trips byte for byte');
  for (const packet of result.packets) JSON.stringify(packet);
  return true;
}

describe('RTCP fuzz', () => {
  it('parseRtcpCompound never throws and round-trips what it accepts, on 100,000 inputs', (t) => {
    const seed = fuzzSeed();
    t.diagnostic(`seed ${seed} (replay with STREAMMESH_FUZZ_SEED=${seed})`);
    const random = new Xorshift32(seed);
    const valid = [...readFixtures('rtcp')]
      .filter(([name]) => expectedReason(name) === null)
      .map(([, buffer]) => buffer);
    const accepted = { random: 0, version2: 0, mutants: 0, generated: 0 };
    let count = 0;
    const run = (input: Buffer, kind: keyof typeof accepted): void => {
      count++;
      try {
        if (checkOne(input)) accepted[kind]++;
      } catch (error) {
        throw new Error(
          `RTCP fuzz failed: seed ${seed}, input #${count} (${kind}) ${input.toString('hex')}; ` +
            `replay with STREAMMESH_FUZZ_SEED=${seed}`,
          { cause: error },
        );
      }
    };

    const started = performance.now();
    for (let i = 0; i < RANDOM_BUFFERS; i++) run(random.bytes(random.between(0, 1500)), 'random');
    // Short random packets that pass the version check, so framing is exercised too.
    for (let i = 0; i < VERSION_2_BUFFERS; i++) {
      const input = random.bytes(random.between(1, 16) * 4);
      input[0] = 0x80 | ((input[0] ?? 0) & 0x3f);
      input[1] = random.between(200, 206);
      input[2] = 0;
      input[3] = input.length / 4 - 1;
      run(input, 'version2');
    }
    for (let i = 0; i < FIXTURE_MUTANTS; i++) run(mutate(random, random.pick(valid)), 'mutants');
    for (let i = 0; i < GENERATED; i++) {
      const compound = serializeRtcpCompound(randomCompound(random));
      run(random.chance(0.5) ? compound : mutate(random, compound), 'generated');
    }
    const ms = performance.now() - started;

    t.diagnostic(
      `${count} inputs in ${ms.toFixed(0)} ms; accepted: ${accepted.random} random, ` +
        `${accepted.version2} version-2, ${accepted.mutants} mutants, ${accepted.generated} generated`,
    );
    assert.ok(count >= 100_000);
    assert.ok(accepted.mutants > FIXTURE_MUTANTS / 10, 'too few mutants were valid');
    assert.ok(accepted.generated > GENERATED / 2, 'too few generated compounds were valid');
  });
});
