/**
 * A peer's display name: what other users typed, shown on every other
 * screen in the room. It is cleaned once, here, before the server keeps it:
 * control characters are dropped (a newline or an escape sequence would
 * forge lines in a log or a terminal), and so are the invisible bidi
 * controls that reorder what follows them (U+202E makes "gpj.exe" read as
 * "exe.jpg"); whitespace runs become one space. What is left must be 1-64
 * characters. Markup is left as typed: clients show names as text, never as
 * HTML, so `<b>` is just four characters of a silly name.
 */
import { z } from 'zod';

/** Characters (code points) a cleaned name may have: fits a video tile's caption. */
export const MAX_DISPLAY_NAME_CHARS = 64;
/**
 * UTF-16 units accepted before cleaning: room for a name padded with some
 * characters to strip, while bounding the work spent on one.
 */
export const MAX_RAW_DISPLAY_NAME_LENGTH = 256;

/** C0 and C1 controls (tab and newline included), and the bidi marks, embeddings, overrides and isolates. */
const INVISIBLE = /[\p{Cc}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/gu;
/** Any whitespace run (`\s` includes the line and paragraph separators and U+FEFF). */
const WHITESPACE = /\s+/gu;

/** The name as it will be shown: controls dropped, whitespace collapsed, trimmed. */
export function cleanDisplayName(raw: string): string {
  // Whitespace first, so "a\nb" reads "a b" rather than "ab"; again after, for
  // the spaces that stood on either side of a dropped character.
  return raw.replace(WHITESPACE, ' ').replace(INVISIBLE, '').replace(WHITESPACE, ' ').trim();
}

/**
 * Code points, not UTF-16 units (an emoji is one, not two) nor graphemes (a
 * letter under a pile of combining marks counts each mark, so the bound
 * also bounds what a caption must render).
 */
export function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

/** Validates and cleans a `displayName` field; its output is the cleaned name. */
export const displayNameSchema = z
  .string()
  .max(MAX_RAW_DISPLAY_NAME_LENGTH)
  .transform(cleanDisplayName)
  .refine((name) => name !== '', { message: 'must have a visible character' })
  .refine((name) => codePoints(name) <= MAX_DISPLAY_NAME_CHARS, {
    message: `must be at most ${MAX_DISPLAY_NAME_CHARS} characters`,
  });
