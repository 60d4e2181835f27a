/**
 * base64url without padding (RFC 7515 §2), decoded strictly: Buffer's own
 * decoder skips characters it does not know, so "a.b!c" would decode as if
 * the "!" were not there, and two spellings of one token would verify.
 */
const BASE64URL = /^[A-Za-z0-9_-]*$/;

export function encodeBase64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** The bytes, or undefined for anything that is not canonical unpadded base64url. */
export function decodeBase64url(text: string): Buffer | undefined {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  // Non-zero trailing bits would make a second spelling of the same bytes.
  return bytes.toString('base64url') === text ? bytes : undefined;
}
