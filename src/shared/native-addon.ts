/**
 * Loading one of the project's N-API addons (native/<name>, built by
 * scripts/build-native.mjs): the first of its candidate paths that loads,
 * or why none did (not built, a library missing, the wrong ABI), for the
 * caller to fall back and say so. The paths are relative to the caller's
 * module, which runs from src/ or dist/src/ (a level deeper) alike.
 */
import { createRequire } from 'node:module';
import { errorMessage } from './errors.js';

export type AddonLoad<T> = { readonly addon: T } | { readonly error: string };

export function loadNativeAddon<T>(from: string, paths: readonly string[]): AddonLoad<T> {
  const require = createRequire(from);
  const errors: string[] = [];
  for (const path of paths) {
    try {
      return { addon: require(path) as T };
    } catch (error) {
      errors.push(errorMessage(error).split('\n')[0] ?? '');
    }
  }
  return { error: errors.join('; ') };
}
