/**
 * Property test of RtspStreamParser over 100,000+ inputs a run: random bytes,
 * and mutants (bit flips, byte insertions and deletions, truncations, splices)
 * of the ffmpeg/GStreamer streams, each pushed in random pieces.
 *
 * - `push` never throws.
 * - Between pushes the parser holds at most max(header limit, body limit,
 *   4 + 65535) unparsed bytes, in a buffer of at most 4 × max(those, 16 KiB).
 * - Events respect the limits; an error is the last event, and nothing
 *   follows it.
 * - Every parsed message re-serializes to bytes that parse to the same message.
 *
 * The seed is printed; replay a failure with STREAMMESH_FUZZ_SEED=<seed>.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  RTSP_PARSER_DEFAULTS,
  RtspStreamParser,
  serializeRequest,
  serializeResponse,
  type RtspParseEvent,
  type RtspStreamParserOptions,
} from '../../../../src/protocol/rtsp/index.js';
import { clientStream, serverStream } from '../../../helpers/protocol/rtsp-fixtures.js';
import { fuzzSeed, plain, Random } from '../../../helpers/protocol/rtsp-support.js';

const RANDOM_INPUTS = 40_000;
const MUTANTS = 60_000;

const SMALL: Required<RtspStreamParserOptions> = {
  maxHeaderBytes: 600,
  maxHeaders: 8,
  maxBodyBytes: 300,
  maxUrlLength: 64,
};

function mutate(random: Random, input: Buffer): Buffer {
  let bytes = Buffer.from(input);
  const edits = 1 + random.int(4);
  for (let e = 0; e < edits; e++) {
    const at = random.int(bytes.length + 1);
    switch (random.int(6)) {
      case 0:
        if (at < bytes.length) bytes[at] = (bytes[at] ?? 0) ^ (1 << random.int(8));
        break;
      case 1:
        bytes = Buffer.concat([
          bytes.subarray(0, at),
          random.bytes(1 + random.int(8)),
          bytes.subarray(at),
        ]);
        break;
      case 2:
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + random.int(16))]);
        break;
      case 3:
        bytes = bytes.subarray(0, at);
        break;
      case 4: {
        // Splice in a special byte: CR, LF, ':', ' ', '$', NUL, DEL or a digit.
        const special = [0x0d, 0x0a, 0x3a, 0x20, 0x24, 0x00, 0x7f, 0x39];
        if (at < bytes.length) bytes[at] = special[random.int(special.length)] ?? 0;
        break;
      }
      default: {
        const from = random.int(bytes.length);
        const piece = bytes.subarray(from, from + random.int(200));
        bytes = Buffer.concat([bytes.subarray(0, at), piece, bytes.subarray(at)]);
      }
    }
  }
  return bytes;
}

function bound(options: Required<RtspStreamParserOptions>): number {
  return Math.max(options.maxHeaderBytes, options.maxBodyBytes, 4 + 0xffff);
}

function checkEvents(
  events: readonly RtspParseEvent[],
  options: Required<RtspStreamParserOptions>,
): void {
  const errorAt = events.findIndex((event) => event.type === 'error');
  assert.ok(errorAt === -1 || errorAt === events.length - 1, 'an error is the last event');
  for (const event of events) {
    if (event.type === 'request' || event.type === 'response') {
      const message = event.type === 'request' ? event.request : event.response;
      assert.ok(message.body.length <= options.maxBodyBytes, 'body within the limit');
      assert.ok(message.headers.size <= options.maxHeaders, 'headers within the limit');
      if (event.type === 'request') {
        assert.ok(event.request.url.length <= options.maxUrlLength, 'URL within the limit');
      }
      const bytes =
        event.type === 'request'
          ? serializeRequest(event.request)
          : serializeResponse(event.response);
      const again = new RtspStreamParser({ ...options, maxHeaderBytes: bytes.length + 64 }).push(
        bytes,
      );
      message.headers.delete('content-length');
      for (const other of again) {
        if (other.type === 'request') other.request.headers.delete('content-length');
        if (other.type === 'response') other.response.headers.delete('content-length');
      }
      assert.deepEqual(plain(again), plain([event]), 're-serializes to the same message');
    } else if (event.type === 'interleaved') {
      assert.ok(event.channel >= 0 && event.channel <= 255 && event.payload.length <= 0xffff);
    }
  }
}

function run(
  random: Random,
  input: Buffer,
  options: Required<RtspStreamParserOptions>,
): RtspParseEvent[] {
  const parser = new RtspStreamParser(options);
  const events: RtspParseEvent[] = [];
  let from = 0;
  while (from < input.length) {
    const to = random.int(4) === 0 ? input.length : from + 1 + random.int(64);
    events.push(...parser.push(input.subarray(from, to)));
    assert.ok(parser.bufferedBytes <= bound(options), `buffered ${parser.bufferedBytes} bytes`);
    assert.ok(
      parser.retainedBytes <= 4 * Math.max(parser.bufferedBytes, 16 * 1024),
      `retained ${parser.retainedBytes} bytes for ${parser.bufferedBytes} buffered`,
    );
    from = to;
  }
  checkEvents(events, options);
  return events;
}

describe('RTSP stream parser fuzz', () => {
  it('never throws and stays within its limits on 100,000 inputs', (t) => {
    const seed = fuzzSeed();
    t.diagnostic(`seed ${seed} (replay with STREAMMESH_FUZZ_SEED=${seed})`);
    const random = new Random(seed);
    const valid = [clientStream(), serverStream()];
    const counts = { inputs: 0, messages: 0, errors: 0 };
    const one = (input: Buffer, kind: string): void => {
      counts.inputs++;
      const options = random.int(2) === 0 ? { ...RTSP_PARSER_DEFAULTS } : SMALL;
      try {
        for (const event of run(random, input, options)) {
          if (event.type === 'error') counts.errors++;
          else if (event.type !== 'interleaved') counts.messages++;
        }
      } catch (error) {
        throw new Error(
          `RTSP fuzz failed: seed ${seed}, input #${counts.inputs} (${kind}) ` +
            `${input.toString('hex')}; replay with STREAMMESH_FUZZ_SEED=${seed}`,
          { cause: error },
        );
      }
    };
    for (let i = 0; i < RANDOM_INPUTS; i++) one(random.bytes(random.int(300)), 'random');
    for (let i = 0; i < MUTANTS; i++) {
      const source = valid[random.int(valid.length)] ?? Buffer.alloc(0);
      // Mostly a window around a message, so the mutated part is reached quickly.
      const start = random.int(2) === 0 ? 0 : random.int(source.length);
      const window = source.subarray(start, start + 200 + random.int(2000));
      one(mutate(random, window), 'mutant');
    }
    assert.ok(counts.inputs >= 100_000);
    t.diagnostic(`${counts.inputs} inputs, ${counts.messages} messages, ${counts.errors} errors`);
    assert.ok(counts.messages > 10_000, 'mutants still reach the message paths');
    // Oversized inputs: the bound holds while limits are reached.
    for (let i = 0; i < 20; i++) {
      const filler = random.bytes(70_000);
      for (let j = 0; j < filler.length; j++) if ((filler[j] ?? 0) < 0x20) filler[j] = 0x41;
      one(Buffer.concat([Buffer.from('DESCRIBE rtsp://x/ RTSP/1.0\r\nX: '), filler]), 'oversized');
    }
  });
});
