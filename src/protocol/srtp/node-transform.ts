/**
 * The node:crypto engine's transform for a profile, with its session keys
 * derived once (key_derivation_rate 0). The libsrtp engine uses it too, for
 * the few packets libsrtp's API cannot protect the way ours does (see
 * libsrtp-transform.ts).
 */
import { AeadGcmTransform } from './aead-gcm.js';
import { AesCmHmacTransform } from './aes-cm.js';
import { SrtpKeyError } from './errors.js';
import { deriveCmSessionKeys, deriveGcmSessionKeys } from './key-derivation.js';
import type { SrtpKeyingMaterial } from './keys.js';
import type { SrtpTransform } from './transform.js';

export function createNodeTransform(keys: SrtpKeyingMaterial): SrtpTransform {
  switch (keys.profile) {
    case 'AES_CM_128_HMAC_SHA1_80':
      return new AesCmHmacTransform(deriveCmSessionKeys(keys.masterKey, keys.masterSalt), 10);
    case 'AES_CM_128_HMAC_SHA1_32':
      return new AesCmHmacTransform(deriveCmSessionKeys(keys.masterKey, keys.masterSalt), 4);
    case 'AEAD_AES_128_GCM':
    case 'AEAD_AES_256_GCM':
      return new AeadGcmTransform(deriveGcmSessionKeys(keys.masterKey, keys.masterSalt));
    default:
      throw new SrtpKeyError(`unknown SRTP profile ${String(keys.profile)}`);
  }
}
