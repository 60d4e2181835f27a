/** Durations on the command line: plain seconds (`90`), or `60s`, `2m`, `1h`, `30d`. */
const UNIT_SECONDS: Readonly<Record<string, number>> = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 };

/** The duration in seconds, or undefined when the text is not one. Bounds are the caller's. */
export function durationSeconds(text: string): number | undefined {
  const match = /^(\d{1,7})(s|m|h|d)?$/.exec(text.trim());
  return match === null ? undefined : Number(match[1]) * (UNIT_SECONDS[match[2] ?? ''] ?? 1);
}
