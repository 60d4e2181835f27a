/**
 * Display names from other users: a join's `displayName` is cleaned before
 * the server keeps it (controls and bidi overrides dropped, whitespace
 * collapsed), bounded to 64 characters, and refused when nothing visible is
 * left; markup passes as the text it is. Random strings never throw and
 * never come out with a control character or over the bound.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  cleanDisplayName,
  codePoints,
  MAX_DISPLAY_NAME_CHARS,
  parseClientMessage,
} from '../../../signaling/protocol/index.js';

/** What the server keeps of a join with `displayName`, or the refusal's message. */
function joinName(displayName: unknown): { name?: unknown; refused?: string } {
  const result = parseClientMessage(
    JSON.stringify({ v: 1, id: 1, method: 'join', data: { room: 'r', displayName } }),
  );
  if (!result.ok) return { refused: `${result.error.code} ${result.error.message}` };
  if (result.request.method !== 'join') throw new Error(`parsed as ${result.request.method}`);
  return { name: result.request.data.displayName };
}

const CONTROL_OR_BIDI = /[\p{Cc}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;

describe('display names', () => {
  it('keeps an ordinary name as typed, emoji and accents included', () => {
    for (const name of ['Alice', 'guest-1234', 'Zoë Ørsted', '李小龙', '👩‍💻 dev', 'a'.repeat(64)]) {
      assert.deepEqual(joinName(name), { name });
    }
  });

  it('drops control characters and bidi overrides, and collapses whitespace', () => {
    const cases: [string, string][] = [
      ['  Bob  ', 'Bob'],
      ['Bob\nSmith', 'Bob Smith'],
      ['Bob\r\n\tSmith', 'Bob Smith'],
      ['\u001b[31mred\u001b[0m', '[31mred[0m'],
      ['nul\u0000byte', 'nulbyte'],
      ['\u0085next-line', 'next-line'],
      // "exe.jpg" to the eye, "gpj.exe" in fact: the override goes.
      ['photo\u202Egpj.exe', 'photogpj.exe'],
      ['a \u2066 b', 'a b'],
      ['line\u2028separator', 'line separator'],
      ['\uFEFFbom', 'bom'],
    ];
    for (const [raw, shown] of cases) {
      assert.equal(cleanDisplayName(raw), shown, JSON.stringify(raw));
      assert.deepEqual(joinName(raw), { name: shown }, JSON.stringify(raw));
    }
  });

  it('passes markup through as text: rendering it safely is the client’s job', () => {
    const markup = '<img src=x onerror="alert(1)">';
    assert.deepEqual(joinName(markup), { name: markup });
  });

  it('refuses a name with nothing visible, an over-long one and a non-string', () => {
    const refusals: [unknown, RegExp][] = [
      ['', /^bad_message displayName: must have a visible character$/],
      [' \n\t\u202E ', /^bad_message displayName: must have a visible character$/],
      ['a'.repeat(65), /^bad_message displayName: must be at most 64 characters$/],
      ['x'.repeat(257), /^bad_message displayName: /],
      [42, /^bad_message displayName: /],
      [null, /^bad_message displayName: /],
    ];
    for (const [raw, message] of refusals) {
      assert.match(joinName(raw).refused ?? 'accepted', message, JSON.stringify(raw));
    }
    // Counted in characters, not UTF-16 units: 64 emoji of two units each fit.
    assert.deepEqual(joinName('😀'.repeat(64)), { name: '😀'.repeat(64) });
    // The bound applies after cleaning: controls do not count against it.
    assert.deepEqual(joinName(`${'\u0007'.repeat(100)}${'b'.repeat(64)}`), {
      name: 'b'.repeat(64),
    });
  });

  it('never throws on 5,000 random names, and what it keeps is clean and bounded', () => {
    const alphabet = [
      'a',
      ' ',
      '\n',
      '\u0000',
      '\u001b',
      '\u202E',
      '\u2066',
      '😀',
      '<',
      'é',
      '\u0085',
    ];
    const started = Date.now();
    for (let i = 0; i < 5_000; i++) {
      const length = randomInt(0, 300);
      const raw = Array.from({ length }, () => alphabet[randomInt(alphabet.length)] ?? '').join('');
      const { name } = joinName(raw);
      if (typeof name !== 'string') continue;
      assert.doesNotMatch(name, CONTROL_OR_BIDI, JSON.stringify(raw));
      assert.ok(codePoints(name) <= MAX_DISPLAY_NAME_CHARS, JSON.stringify(name));
      assert.equal(name, name.trim());
      assert.doesNotMatch(name, /\s{2}/u);
    }
    assert.ok(Date.now() - started < 10_000, 'bounded work per name');
  });
});
