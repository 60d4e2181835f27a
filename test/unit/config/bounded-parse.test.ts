/**
 * The pre-scan of config text (bounded-parse.ts): deep nesting in every form
 * YAML and JSON allow is refused with its line and column, fast, before any
 * parser runs; every real config passes; brackets in strings, comments and
 * block scalars are not nesting; no input makes it throw.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  checkConfigText,
  configTextBounds,
  parseConfigText,
  type TextBounds,
} from '../../../src/config/index.js';
import { ConfigError } from '../../../src/shared/errors.js';
import { repoRoot } from '../../helpers/process.js';

const { maxDepth } = configTextBounds;

/** Nesting `levels` deep in each form. */
const shapes: Record<string, (levels: number) => string> = {
  'flow sequences': (levels) => `${'['.repeat(levels)}${']'.repeat(levels)}`,
  'flow mappings': (levels) => `${'{a: '.repeat(levels)}1${'}'.repeat(levels)}`,
  'JSON objects': (levels) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`,
  'block mappings': (levels) =>
    `${Array.from({ length: levels }, (_, level) => `${' '.repeat(level)}k${level}:`).join('\n')} 1\n`,
  'compact sequences': (levels) => `${'- '.repeat(levels)}x\n`,
  'block sequences': (levels) =>
    `${Array.from({ length: levels }, (_, level) => `${' '.repeat(level * 2)}-`).join('\n')} x\n`,
  'block then flow': (levels) => {
    const block = Math.floor(levels / 2);
    const lines = Array.from({ length: block }, (_, level) => `${' '.repeat(level)}k${level}:`);
    const flow = levels - block;
    return `${lines.join('\n')} ${'['.repeat(flow)}${']'.repeat(flow)}\n`;
  },
};

describe('config text pre-scan', () => {
  for (const [shape, make] of Object.entries(shapes)) {
    it(`${shape}: ${maxDepth} levels pass, ${maxDepth + 1} are refused with a position`, () => {
      assert.equal(checkConfigText(make(maxDepth)), undefined);
      const refused = checkConfigText(make(maxDepth + 1));
      assert.match(
        refused?.reason ?? '',
        new RegExp(`^nesting deeper than ${maxDepth} levels at line \\d+, column \\d+$`),
      );
    });
  }

  it('refuses the 1 MiB attack ([ x 500,000 then ] x 500,000) at its first excess bracket, in milliseconds', () => {
    const attack = `${'['.repeat(500_000)}${']'.repeat(500_000)}`;
    // The best of three runs, as below: one run can meet a stall of the shared machine.
    const runs = [0, 1, 2].map(() => {
      const started = performance.now();
      const refused = checkConfigText(attack);
      const elapsedMs = performance.now() - started;
      assert.equal(
        refused?.reason,
        `nesting deeper than ${maxDepth} levels at line 1, column ${maxDepth + 1}`,
      );
      return elapsedMs;
    });
    assert.ok(Math.min(...runs) < 50, `${runs.map((ms) => ms.toFixed(1)).join(', ')} ms`);
  });

  it('scans a 1 MiB text of the deepest allowed nesting in well under 50 ms', () => {
    const unit = `${shapes['flow sequences']?.(maxDepth) ?? ''}\n`;
    const text = unit.repeat(Math.floor(configTextBounds.maxBytes / unit.length));
    // The best of three runs: the machine is shared, the scan's cost is what is measured.
    const runs = [0, 1, 2].map(() => {
      const started = performance.now();
      assert.equal(checkConfigText(text), undefined);
      return performance.now() - started;
    });
    assert.ok(Math.min(...runs) < 50, `${runs.map((ms) => ms.toFixed(1)).join(', ')} ms`);
  });

  it('refuses more bytes than the bound, counting UTF-8 bytes', () => {
    const bounds: TextBounds = { maxBytes: 100, maxDepth };
    assert.equal(checkConfigText('a'.repeat(100), bounds), undefined);
    assert.equal(
      checkConfigText('a'.repeat(101), bounds)?.reason,
      'is 101 bytes; a config is at most 100',
    );
    // 34 three-byte characters are 102 bytes though 34 string units.
    assert.match(checkConfigText('€'.repeat(34), bounds)?.reason ?? '', /^is 102 bytes/);
  });

  it('passes every example config', () => {
    const examples = join(repoRoot, 'examples');
    for (const name of readdirSync(examples).filter((file) => file.endsWith('.yaml'))) {
      assert.equal(checkConfigText(readFileSync(join(examples, name), 'utf8')), undefined, name);
    }
  });

  it('does not count brackets in quoted strings, comments or block scalars', () => {
    const deep = '['.repeat(maxDepth + 5);
    const texts = [
      `a: "${deep}"\n`,
      `a: '${deep}'\n`,
      `a: "say \\"${deep}\\""\n`,
      `a: 'it''s ${deep}'\n`,
      `# ${deep}\na: 1\n`,
      `a: 1 # ${deep}\n`,
      `a: |\n  ${deep}\n  more\nb: 2\n`,
      `a: >-\n  ${deep}\nb: 2\n`,
      `["${deep}", '${deep}']\n`,
    ];
    for (const text of texts) assert.equal(checkConfigText(text), undefined, text);
  });

  it('a quote inside a plain scalar does not hide the brackets after it', () => {
    const text = `a: don't\nb: ${'['.repeat(maxDepth + 1)}${']'.repeat(maxDepth + 1)}\n`;
    assert.match(checkConfigText(text)?.reason ?? '', /^nesting deeper than/);
  });

  it('parseConfigText refuses before parsing, naming the source', () => {
    assert.throws(
      () => parseConfigText(shapes['block mappings']?.(maxDepth + 1) ?? '', 'body'),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.source === 'body' &&
        /^body: nesting deeper than/.test(error.message),
    );
  });

  it('never throws on random text made of the characters that matter', () => {
    const alphabet = [
      '[',
      ']',
      '{',
      '}',
      '"',
      "'",
      '\\',
      '#',
      '-',
      ' ',
      '\n',
      ':',
      '|',
      '>',
      'a',
      ',',
      '\t',
      '\r',
      '?',
    ];
    let seed = 14;
    const next = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed;
    };
    for (let round = 0; round < 2_000; round += 1) {
      const length = next() % 400;
      let text = '';
      for (let index = 0; index < length; index += 1)
        text += alphabet[next() % alphabet.length] ?? '';
      const result = checkConfigText(text);
      assert.ok(result === undefined || /^nesting deeper/.test(result.reason), text);
    }
  });
});
