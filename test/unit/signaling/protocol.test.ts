/**
 * The signaling protocol's parser: every method's valid request passes, and
 * malformed, oversized, wrong-version, unknown and ill-typed frames get the
 * error code a client can switch on, with the request id when it had one.
 * Random and mutated frames never throw.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  errorFrame,
  eventFrame,
  MAX_MESSAGE_BYTES,
  methods,
  parseClientMessage,
  responseFrame,
  type ParseResult,
} from '../../../signaling/protocol/messages.js';

const frame = (method: string, data?: unknown, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ v: 1, id: 7, method, ...(data === undefined ? {} : { data }), ...extra });

const VALID: Record<string, unknown> = {
  ping: undefined,
  join: { room: 'standup', peer: 'alice', displayName: 'Alice' },
  leave: {},
  getRouterRtpCapabilities: undefined,
  createTransport: { direction: 'send' },
  connectTransport: { transportId: 't1', dtlsParameters: { role: 'client', fingerprints: [] } },
  restartIce: { transportId: 't1' },
  produce: { transportId: 't1', kind: 'video', rtpParameters: { codecs: [] }, appData: { a: 1 } },
  consume: { transportId: 't2', producerId: 'p1', rtpCapabilities: { codecs: [] } },
  pauseProducer: { producerId: 'p1' },
  resumeProducer: { producerId: 'p1' },
  closeProducer: { producerId: 'p1' },
  pauseConsumer: { consumerId: 'c1' },
  resumeConsumer: { consumerId: 'c1' },
  closeConsumer: { consumerId: 'c1' },
};

function errorOf(result: ParseResult): { code: string; id: number | undefined; message: string } {
  if (result.ok) throw new assert.AssertionError({ message: 'expected a refusal', actual: result });
  return { code: result.error.code, id: result.id, message: result.error.message };
}

describe('signaling protocol v1', () => {
  it('accepts a valid request of every method', () => {
    assert.deepEqual(Object.keys(VALID).sort(), [...methods].sort(), 'every method has a case');
    for (const method of methods) {
      const result = parseClientMessage(frame(method, VALID[method]));
      assert.ok(result.ok, `${method}: ${JSON.stringify(result)}`);
      assert.equal(result.request.method, method);
      assert.equal(result.request.id, 7);
    }
  });

  it('refuses frames that are not requests, with stable codes', () => {
    const cases: [string | Buffer, string, number | undefined][] = [
      ['{', 'bad_json', undefined],
      [Buffer.from([0xff, 0xfe]), 'bad_json', undefined],
      ['null', 'bad_message', undefined],
      ['[]', 'bad_message', undefined],
      [JSON.stringify({ v: 1, method: 'ping' }), 'bad_message', undefined],
      [JSON.stringify({ v: 1, id: -1, method: 'ping' }), 'bad_message', undefined],
      [JSON.stringify({ v: 1, id: 3, method: 'ping', extra: true }), 'bad_message', 3],
      [frame('ping', undefined, { v: 2 }), 'unsupported_version', 7],
      [frame('launchMissiles'), 'unknown_method', 7],
      [frame('__proto__'), 'unknown_method', 7],
      [frame('toString'), 'unknown_method', 7],
      [frame('join', { room: '../etc' }), 'bad_message', 7],
      [frame('join', { room: 'a', color: 'red' }), 'bad_message', 7],
      [frame('createTransport', { direction: 'sideways' }), 'bad_message', 7],
      [frame('produce', { transportId: 't', kind: 'video', rtpParameters: [] }), 'bad_message', 7],
      [
        frame('consume', { transportId: '', producerId: 'p', rtpCapabilities: {} }),
        'bad_message',
        7,
      ],
      ['x'.repeat(MAX_MESSAGE_BYTES + 1), 'too_large', undefined],
    ];
    for (const [input, code, id] of cases) {
      const error = errorOf(parseClientMessage(input));
      assert.equal(error.code, code, `${String(input).slice(0, 80)}: ${error.message}`);
      assert.equal(error.id, id, String(input).slice(0, 80));
    }
  });

  it('names the field at fault', () => {
    const error = errorOf(parseClientMessage(frame('createTransport', { direction: 1 })));
    assert.match(error.message, /^direction: /);
  });

  it('builds frames a client can parse back', () => {
    assert.deepEqual(JSON.parse(responseFrame(7, { a: 1 })), {
      v: 1,
      id: 7,
      ok: true,
      data: { a: 1 },
    });
    assert.deepEqual(JSON.parse(errorFrame(undefined, { code: 'bad_json', message: 'not JSON' })), {
      v: 1,
      id: null,
      ok: false,
      error: { code: 'bad_json', message: 'not JSON' },
    });
    assert.deepEqual(JSON.parse(eventFrame('peerLeft', { peer: 'bob' })), {
      v: 1,
      event: 'peerLeft',
      data: { peer: 'bob' },
    });
  });

  it('never throws on 20,000 random and mutated frames', () => {
    const seeds = methods.map((m) => Buffer.from(frame(m, VALID[m])));
    const started = Date.now();
    for (let i = 0; i < 20_000; i++) {
      let input: Buffer;
      if (i % 4 === 0) input = randomBytes(Math.floor(Math.random() * 200));
      else {
        const seed = seeds[i % seeds.length] ?? Buffer.alloc(0);
        input = Buffer.from(seed);
        for (let e = 0; e < 3; e++)
          input[Math.floor(Math.random() * input.length)] = Math.floor(Math.random() * 256);
      }
      const result = parseClientMessage(input);
      assert.equal(typeof result.ok, 'boolean');
    }
    assert.ok(Date.now() - started < 20_000, 'bounded work per frame');
  });
});
