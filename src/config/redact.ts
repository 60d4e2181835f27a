/**
 * A config as it may be shown to anyone who can read an admin port: the
 * secrets it holds — SRTP keys, RTSP users' passwords and tokens, credentials
 * in camera URLs — replaced by a marker. Structure, names and every other
 * value stay, so the shown config still says what is in force.
 */
export const REDACTED = '(redacted)';

/** Fields whose string value is a secret wherever they appear. */
const secretFields = new Set(['password']);
/** Fields holding a list of secrets. */
const secretListFields = new Set(['tokens']);

function redactUrl(text: string): string {
  // scheme://user:password@host... -> scheme://(redacted)@host...
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/i, `$1${REDACTED}@`);
}

function redactValue(field: string | undefined, value: unknown): unknown {
  if (typeof value === 'string') {
    if (field !== undefined && secretFields.has(field)) return REDACTED;
    // An SRTP leg's key; "generate" is a setting, not a key.
    if (field === 'key' && value !== 'generate') return REDACTED;
    return redactUrl(value);
  }
  if (Array.isArray(value)) {
    if (field !== undefined && secretListFields.has(field)) return value.map(() => REDACTED);
    return value.map((item) => redactValue(undefined, item));
  }
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, redactValue(key, item)]),
    );
  }
  return value;
}

/** A deep copy of `config` with its secrets replaced by REDACTED. */
export function redactSecrets<T>(config: T): T {
  return redactValue(undefined, config) as T;
}
