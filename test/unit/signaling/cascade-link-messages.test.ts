/**
 * The cascade link's message parser: every type's valid message passes and
 * round-trips through encodeLinkMessage; oversized, binary-garbage, non-JSON,
 * wrong-version, unknown-type, ill-typed and extra-field frames are refused
 * with the reason the link counts; display names are cleaned as the
 * signaling protocol cleans them. Random and mutated frames (and a nesting
 * deep enough to exhaust a recursive check) never throw.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  encodeLinkMessage,
  linkMessageTypes,
  MAX_LINK_MESSAGE_BYTES,
  parseLinkMessage,
  type LinkMessage,
  type LinkParseFailure,
} from '../../../signaling/cascade/link-messages.js';

const PRODUCER = '0b9a4c2e-5a6f-4d0e-9f1a-2c3d4e5f6a7b';

const VALID: readonly LinkMessage[] = [
  {
    type: 'sync',
    room: 'standup',
    peers: [{ peer: 'alice', displayName: 'Alice' }],
    producers: [{ peer: 'alice', producerId: PRODUCER, kind: 'video', paused: false }],
  },
  { type: 'sync', room: 'empty', peers: [], producers: [] },
  { type: 'peerJoined', room: 'standup', peer: 'bob', displayName: 'Bob B.' },
  { type: 'peerLeft', room: 'standup', peer: 'bob' },
  {
    type: 'producerAdded',
    room: 'standup',
    peer: 'alice',
    producerId: PRODUCER,
    kind: 'audio',
    paused: true,
    appData: { source: 'mic', nested: [1, null, 'x'] },
  },
  { type: 'producerClosed', room: 'standup', producerId: PRODUCER },
  { type: 'producerPaused', room: 'standup', producerId: PRODUCER },
  { type: 'producerResumed', room: 'standup', producerId: PRODUCER },
  { type: 'pipeRequest', id: 7, room: 'standup', producerId: PRODUCER },
  {
    type: 'pipeReady',
    id: 7,
    room: 'standup',
    producerId: PRODUCER,
    kind: 'video',
    rtpParameters: { codecs: [], encodings: [{ ssrc: 1 }] },
    paused: false,
  },
  { type: 'pipeRefused', id: 7, room: 'standup', producerId: PRODUCER, reason: 'not found' },
  { type: 'unpipe', room: 'standup', producerId: PRODUCER },
  { type: 'ping' },
  { type: 'pong' },
];

function refused(frame: string | Buffer): LinkParseFailure {
  const result = parseLinkMessage(frame);
  if (result.ok) assert.fail(`expected a refusal of ${String(frame).slice(0, 80)}`);
  return result.reason;
}

describe('cascade link messages', () => {
  it('accepts one valid message of every type, and each round-trips', () => {
    const seen = new Set(VALID.map((message) => message.type));
    assert.deepEqual([...seen].sort(), [...linkMessageTypes].sort());
    for (const message of VALID) {
      const result = parseLinkMessage(encodeLinkMessage(message));
      assert.ok(result.ok, `${message.type}: ${result.ok ? '' : result.detail}`);
      assert.deepEqual(result.message, message);
      // A Buffer (what ws hands over) parses the same.
      assert.deepEqual(parseLinkMessage(Buffer.from(encodeLinkMessage(message))), result);
    }
  });

  it('cleans display names as the signaling protocol does', () => {
    const result = parseLinkMessage(
      JSON.stringify({
        v: 1,
        type: 'peerJoined',
        room: 'r',
        peer: 'p',
        displayName: ' Eve\u202E\n gpj.exe ',
      }),
    );
    assert.ok(result.ok);
    assert.deepEqual(result.message, {
      type: 'peerJoined',
      room: 'r',
      peer: 'p',
      displayName: 'Eve gpj.exe',
    });
  });

  it('refuses frames over the cap before parsing them', () => {
    const big = JSON.stringify({ v: 1, type: 'ping', pad: 'x'.repeat(MAX_LINK_MESSAGE_BYTES) });
    assert.equal(refused(big), 'too_large');
    // Counted in bytes, not UTF-16 units.
    const multiByte = JSON.stringify({
      v: 1,
      type: 'pipeRefused',
      id: 1,
      room: 'r',
      producerId: 'p',
      reason: 'é'.repeat(MAX_LINK_MESSAGE_BYTES / 2),
    });
    assert.ok(multiByte.length < MAX_LINK_MESSAGE_BYTES);
    assert.equal(refused(multiByte), 'too_large');
  });

  it('names why a frame is not a message', () => {
    assert.equal(refused('not json'), 'bad_json');
    assert.equal(refused(''), 'bad_json');
    assert.equal(refused('{"v":1,"type":"ping"'), 'bad_json');
    assert.equal(refused('[]'), 'bad_message');
    assert.equal(refused('null'), 'bad_message');
    assert.equal(refused('{"type":"ping"}'), 'bad_message');
    assert.equal(refused('{"v":1}'), 'bad_message');
    assert.equal(refused('{"v":"1","type":"ping"}'), 'bad_message');
    assert.equal(refused('{"v":2,"type":"ping"}'), 'unsupported_version');
    assert.equal(refused('{"v":1,"type":"shutdown"}'), 'unknown_type');
    assert.equal(refused('{"v":1,"type":"__proto__"}'), 'unknown_type');
    assert.equal(refused('{"v":1,"type":"toString"}'), 'unknown_type');
  });

  it('refuses ill-typed fields, names the fields, and never quotes the value', () => {
    const cases: readonly Record<string, unknown>[] = [
      { type: 'peerLeft', room: 'standup' },
      { type: 'peerLeft', room: '../etc', peer: 'p' },
      { type: 'peerLeft', room: 'r', peer: 'a'.repeat(65) },
      { type: 'peerLeft', room: 'r', peer: 'p', extra: 1 },
      { type: 'peerJoined', room: 'r', peer: 'p', displayName: '\u202E\n' },
      { type: 'producerAdded', room: 'r', peer: 'p', producerId: 'x', kind: 'data', paused: false },
      { type: 'producerClosed', room: 'r', producerId: '' },
      { type: 'pipeRequest', id: -1, room: 'r', producerId: 'x' },
      { type: 'pipeRequest', id: 1.5, room: 'r', producerId: 'x' },
      { type: 'pipeReady', id: 1, room: 'r', producerId: 'x', kind: 'video', paused: false },
      {
        type: 'pipeReady',
        id: 1,
        room: 'r',
        producerId: 'x',
        kind: 'video',
        rtpParameters: [],
        paused: false,
      },
      { type: 'pipeRefused', id: 1, room: 'r', producerId: 'x', reason: '' },
      { type: 'ping', at: 1 },
      { type: 'sync', room: 'r', peers: [{ peer: 'p' }], producers: [] },
    ];
    for (const fields of cases) {
      const result = parseLinkMessage(JSON.stringify({ v: 1, ...fields }));
      if (result.ok) assert.fail(`accepted ${JSON.stringify(fields)}`);
      assert.equal(result.reason, 'bad_message', JSON.stringify(fields));
      assert.ok(!result.detail.includes('../etc'), result.detail);
    }
  });

  it('never throws on deep nesting or on 20,000 random and mutated frames', () => {
    const deep = `{"v":1,"type":"producerAdded","room":"r","peer":"p","producerId":"x","kind":"video","paused":false,"appData":{"a":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`;
    assert.equal(parseLinkMessage(deep).ok, false);
    const frames = VALID.map((message) => Buffer.from(encodeLinkMessage(message)));
    let accepted = 0;
    for (let i = 0; i < 20_000; i += 1) {
      let input: Buffer;
      if (i % 4 === 0) {
        input = randomBytes(Math.floor(Math.random() * 200));
      } else {
        const source = frames[i % frames.length];
        assert.ok(source !== undefined);
        input = Buffer.from(source);
        const flips = 1 + Math.floor(Math.random() * 4);
        for (let f = 0; f < flips; f += 1) {
          input[Math.floor(Math.random() * input.length)] = Math.floor(Math.random() * 256);
        }
      }
      const result = parseLinkMessage(i % 2 === 0 ? input : input.toString('latin1'));
      if (result.ok) {
        accepted += 1;
        // Whatever passes is a message of a known type whose fields parse again.
        assert.ok(linkMessageTypes.includes(result.message.type));
        assert.ok(parseLinkMessage(encodeLinkMessage(result.message)).ok);
      } else {
        assert.equal(typeof result.detail, 'string');
      }
    }
    assert.ok(accepted < 20_000);
  });
});
