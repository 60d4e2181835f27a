/**
 * SRTP protection profiles and their master keying material: lengths, the SDES
 * `inline:` form (RFC 4568 §6.1) and fresh random keys.
 */
import { randomBytes } from 'node:crypto';
import { SrtpKeyError } from './errors.js';

export type SrtpProfile =
  'AES_CM_128_HMAC_SHA1_80' | 'AES_CM_128_HMAC_SHA1_32' | 'AEAD_AES_128_GCM' | 'AEAD_AES_256_GCM';

export const srtpProfiles: readonly SrtpProfile[] = Object.freeze([
  'AES_CM_128_HMAC_SHA1_80',
  'AES_CM_128_HMAC_SHA1_32',
  'AEAD_AES_128_GCM',
  'AEAD_AES_256_GCM',
]);

export interface SrtpKeyingMaterial {
  readonly profile: SrtpProfile;
  readonly masterKey: Buffer;
  readonly masterSalt: Buffer;
}

export interface SrtpKeyLengths {
  keyLength: number;
  saltLength: number;
}

// RFC 3711 §8.2 (112-bit master salt for AES-CM) and RFC 7714 §12 (96-bit
// master salt for AEAD_AES_*_GCM); the master key is the AES key size.
const profileKeyLengths: ReadonlyMap<string, Readonly<SrtpKeyLengths>> = new Map([
  ['AES_CM_128_HMAC_SHA1_80', { keyLength: 16, saltLength: 14 }],
  ['AES_CM_128_HMAC_SHA1_32', { keyLength: 16, saltLength: 14 }],
  ['AEAD_AES_128_GCM', { keyLength: 16, saltLength: 12 }],
  ['AEAD_AES_256_GCM', { keyLength: 32, saltLength: 12 }],
]);

export function isSrtpProfile(value: unknown): value is SrtpProfile {
  return typeof value === 'string' && profileKeyLengths.has(value);
}

export function keyLengths(profile: SrtpProfile): SrtpKeyLengths {
  const lengths = profileKeyLengths.get(profile);
  // Profiles arrive from SDP and config, so a string outside the union is possible at run time.
  if (lengths === undefined) throw new SrtpKeyError(`unknown SRTP profile ${profile}`);
  return { keyLength: lengths.keyLength, saltLength: lengths.saltLength };
}

/** Throws SrtpKeyError unless the key and salt have the lengths the profile needs. */
export function assertKeyingMaterial(keys: SrtpKeyingMaterial): void {
  const { keyLength, saltLength } = keyLengths(keys.profile);
  if (!Buffer.isBuffer(keys.masterKey) || keys.masterKey.length !== keyLength) {
    throw new SrtpKeyError(`${keys.profile} needs a ${keyLength}-byte master key`);
  }
  if (!Buffer.isBuffer(keys.masterSalt) || keys.masterSalt.length !== saltLength) {
    throw new SrtpKeyError(`${keys.profile} needs a ${saltLength}-byte master salt`);
  }
}

const base64Pattern = /^[A-Za-z0-9+/]+={0,2}$/;
// RFC 4568 §6.1: lifetime is a decimal number of packets or "2^" and a power.
const lifetimePattern = /^(?:2\^)?[0-9]+$/;

/**
 * The key||salt of an SDES `a=crypto` line's key parameter: `<base64>` with an
 * optional `|lifetime`, which is ignored (the relay rekeys with the session, not
 * by packet count). An MKI (`|1:4`) is refused: the SDES legs build their
 * SrtpSession without one, so accepting it would make every packet fail.
 * A leading `inline:` is tolerated.
 */
export function parseInlineKey(profile: SrtpProfile, inline: string): SrtpKeyingMaterial {
  const { keyLength, saltLength } = keyLengths(profile);
  const value = inline.trim().replace(/^inline:/, '');
  const [encoded = '', ...parameters] = value.split('|');
  if (parameters.length > 2) {
    throw new SrtpKeyError('SDES inline key has more than key, lifetime and MKI fields');
  }
  for (const parameter of parameters) {
    if (parameter.includes(':')) {
      throw new SrtpKeyError('SDES inline key carries an MKI, which is not supported');
    }
    if (!lifetimePattern.test(parameter)) {
      throw new SrtpKeyError('SDES inline key lifetime is neither a number nor 2^n');
    }
  }
  if (!base64Pattern.test(encoded)) throw new SrtpKeyError('SDES inline key is not base64');
  const bytes = Buffer.from(encoded, 'base64');
  // Buffer.from skips what it cannot decode; a round trip catches stray padding
  // and non-zero trailing bits, so that one key has one spelling.
  if (bytes.toString('base64').replace(/=+$/, '') !== encoded.replace(/=+$/, '')) {
    throw new SrtpKeyError('SDES inline key is not canonical base64');
  }
  if (bytes.length !== keyLength + saltLength) {
    throw new SrtpKeyError(
      `${profile} needs ${keyLength + saltLength} bytes of key||salt, the inline key has ${bytes.length}`,
    );
  }
  return {
    profile,
    masterKey: Buffer.from(bytes.subarray(0, keyLength)),
    masterSalt: Buffer.from(bytes.subarray(keyLength)),
  };
}

/** The SDES inline form (without `inline:`): base64 of key||salt. */
export function formatInlineKey(keys: SrtpKeyingMaterial): string {
  assertKeyingMaterial(keys);
  return Buffer.concat([keys.masterKey, keys.masterSalt]).toString('base64');
}

export function generateKeyingMaterial(profile: SrtpProfile): SrtpKeyingMaterial {
  const { keyLength, saltLength } = keyLengths(profile);
  return { profile, masterKey: randomBytes(keyLength), masterSalt: randomBytes(saltLength) };
}
