/** Command-line helpers every benchmark uses. */

/** `text` as an integer in [min, max]; `fallback` when absent; throws naming the bounds. */
export function int(text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number.parseInt(text, 10);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`expected an integer in [${min}, ${max}], got "${text}"`);
  }
  return value;
}

/** Progress goes to stderr; stdout is the result table. */
export function log(line: string): void {
  process.stderr.write(`${line}\n`);
}
