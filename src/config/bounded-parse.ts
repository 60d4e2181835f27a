/**
 * A linear pre-scan of config text (YAML or JSON) that refuses what a parser
 * would choke on before any parser builds it: more bytes than a config has,
 * or nesting deeper than a config has. A body of `[` x 500,000 then `]` x
 * 500,000 (under 1 MiB) ran V8 out of memory inside the `yaml` parser; this
 * scan refuses it in a few milliseconds at the first bracket past the limit.
 *
 * Depth is counted the way both languages nest: flow brackets (`[`, `{`)
 * outside quoted strings and comments, plus YAML block nesting (each deeper
 * indentation, each compact `- ` on a line, and a line's `key: `). A sequence
 * written at its key's indentation is not counted, so a text can nest at
 * most about twice the limit: still bounded, which is the point; a real
 * config nests about eight levels deep.
 */
import type { ConfigIssue } from '../shared/errors.js';

export interface TextBounds {
  /** UTF-8 bytes. */
  readonly maxBytes: number;
  /** Nesting levels (mappings and sequences, block and flow together). */
  readonly maxDepth: number;
}

export const configTextBounds: TextBounds = { maxBytes: 1024 * 1024, maxDepth: 32 };

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const HASH = 0x23;
const DOUBLE_QUOTE = 0x22;
const SINGLE_QUOTE = 0x27;
const BACKSLASH = 0x5c;
const OPEN_SQUARE = 0x5b;
const CLOSE_SQUARE = 0x5d;
const OPEN_CURLY = 0x7b;
const CLOSE_CURLY = 0x7d;
const DASH = 0x2d;
const COLON = 0x3a;
const COMMA = 0x2c;
const QUESTION = 0x3f;
const PIPE = 0x7c;
const GREATER = 0x3e;

/** Characters after which a quote opens a quoted scalar (not a plain `don't`). */
function opensScalar(previous: number): boolean {
  return (
    previous === -1 ||
    previous === SPACE ||
    previous === TAB ||
    previous === OPEN_SQUARE ||
    previous === OPEN_CURLY ||
    previous === COMMA ||
    previous === COLON
  );
}

function isBlank(code: number): boolean {
  return code === SPACE || code === TAB;
}

/** A `:` followed by white space or the end of the line ends a block mapping key. */
function endsKey(text: string, index: number): boolean {
  const next = index + 1 < text.length ? text.charCodeAt(index + 1) : NEWLINE;
  return isBlank(next) || next === NEWLINE || next === CARRIAGE_RETURN;
}

/** `key: |`, `key: >-`, `- |2 # comment`: the rest of the line is a block scalar header. */
function endsWithIndicator(text: string, from: number, lineEnd: number): boolean {
  const header = text
    .slice(from, lineEnd)
    .replace(/\s+#.*$/, '')
    .trim();
  return /^[|>][-+0-9]*$/.test(header);
}

/**
 * Returns why the text is refused, or undefined when it is within bounds.
 * Runs in time linear in the text and allocates nothing per character.
 */
export function checkConfigText(
  text: string,
  bounds: TextBounds = configTextBounds,
): ConfigIssue | undefined {
  // A string's UTF-8 size is at most 3 bytes per UTF-16 unit: skip the count when it cannot exceed.
  if (text.length * 3 > bounds.maxBytes) {
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > bounds.maxBytes) {
      return { path: '', reason: `is ${bytes} bytes; a config is at most ${bounds.maxBytes}` };
    }
  }
  const indents: number[] = [];
  let flow = 0;
  let quote: 0 | typeof DOUBLE_QUOTE | typeof SINGLE_QUOTE = 0;
  let line = 1;
  let column = 0;
  let atLineStart = true;
  /** Lines indented deeper than this are the text of a block scalar (`|`, `>`). */
  let blockScalarIndent = -1;
  let lineIndent = 0;
  let lineDepth = 0;
  /** Whether this block line's `key: ` has been counted as a mapping level. */
  let keyOnLine = false;
  let previous = -1;
  /** Where a `|` or `>` that may open a block scalar stands on this line, or -1. */
  let indicatorAt = -1;

  const tooDeep = (depth: number): ConfigIssue | undefined =>
    depth > bounds.maxDepth
      ? {
          path: '',
          reason: `nesting deeper than ${bounds.maxDepth} levels at line ${line}, column ${column}`,
        }
      : undefined;

  for (let index = 0; index < text.length; index += 1) {
    let code = text.charCodeAt(index);
    column += 1;
    if (code === NEWLINE) {
      if (
        indicatorAt >= 0 &&
        quote === 0 &&
        flow === 0 &&
        endsWithIndicator(text, indicatorAt, index)
      ) {
        blockScalarIndent = lineIndent;
      }
      line += 1;
      column = 0;
      atLineStart = true;
      previous = -1;
      indicatorAt = -1;
      continue;
    }
    if (atLineStart && quote === 0 && flow === 0) {
      // Measure the indentation and the compact sequence entries ("- - x") of a block line.
      let indent = 0;
      while (index < text.length && isBlank(text.charCodeAt(index))) {
        index += 1;
        indent += 1;
      }
      column += indent;
      code = text.charCodeAt(index);
      if (index >= text.length || code === NEWLINE || code === CARRIAGE_RETURN || code === HASH) {
        index -= 1; // an empty or comment-only line: the loop sees its newline or '#' next
        column -= 1;
        atLineStart = false;
        continue;
      }
      atLineStart = false;
      if (blockScalarIndent >= 0 && indent > blockScalarIndent) {
        // Text of a block scalar: skip to the end of the line.
        const end = text.indexOf('\n', index);
        if (end === -1) break;
        index = end - 1;
        continue;
      }
      blockScalarIndent = -1;
      while (indents.length > 0 && (indents.at(-1) ?? 0) >= indent) indents.pop();
      indents.push(indent);
      lineIndent = indent;
      let entries = 0;
      while (
        (code === DASH || code === QUESTION) &&
        index + 1 < text.length &&
        isBlank(text.charCodeAt(index + 1))
      ) {
        entries += 1;
        // Refuse at the first excess entry, not at the end of a megabyte-long line.
        const refused = tooDeep(indents.length - 1 + entries);
        if (refused !== undefined) return refused;
        index += 2;
        column += 2;
        while (index < text.length && isBlank(text.charCodeAt(index))) {
          index += 1;
          column += 1;
        }
        code = text.charCodeAt(index);
      }
      // The line's own collection: one per `- ` here; a mapping counts at its `: ` below.
      lineDepth = indents.length - 1 + entries;
      keyOnLine = false;
      const refused = tooDeep(lineDepth);
      if (refused !== undefined) return refused;
      previous = SPACE;
      // Fall through: `code` is the line's first content character.
    } else if (atLineStart) {
      atLineStart = false;
    }

    if (quote === DOUBLE_QUOTE) {
      if (code === BACKSLASH) {
        index += 1;
        column += 1;
      } else if (code === DOUBLE_QUOTE) {
        quote = 0;
      }
      previous = code;
      continue;
    }
    if (quote === SINGLE_QUOTE) {
      if (code === SINGLE_QUOTE) {
        // '' inside a single-quoted scalar is one escaped quote, not its end.
        if (index + 1 < text.length && text.charCodeAt(index + 1) === SINGLE_QUOTE) {
          index += 1;
          column += 1;
        } else {
          quote = 0;
        }
      }
      previous = code;
      continue;
    }
    if (code === HASH && (previous === -1 || isBlank(previous))) {
      const end = text.indexOf('\n', index);
      if (end === -1) break;
      index = end - 1;
      column -= 1;
      continue;
    }
    if ((code === DOUBLE_QUOTE || code === SINGLE_QUOTE) && opensScalar(previous)) {
      quote = code;
    } else if (code === OPEN_SQUARE || code === OPEN_CURLY) {
      flow += 1;
      const refused = tooDeep(lineDepth + flow);
      if (refused !== undefined) return refused;
    } else if ((code === CLOSE_SQUARE || code === CLOSE_CURLY) && flow > 0) {
      flow -= 1;
    } else if ((code === PIPE || code === GREATER) && isBlank(previous)) {
      indicatorAt = index;
    } else if (code === COLON && flow === 0 && !keyOnLine && endsKey(text, index)) {
      keyOnLine = true;
      lineDepth += 1;
      const refused = tooDeep(lineDepth);
      if (refused !== undefined) return refused;
    }
    previous = code;
  }
  return undefined;
}
