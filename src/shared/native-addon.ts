/**
 * Loading one of the project's N-API addons (native/<name>, built by
 * scripts/build-native.mjs): the first of its candidate paths that loads,
 * or why none did (not built, a library missing, the wrong ABI), for the
 * caller to fall back and say so. The paths are relative to the caller's
 * module, which runs from src/ or dist/src/ (a level deeper) alike.
 * addonLoader() makes a module's loader, which loads once and keeps what it
 * got: once per thread, as each worker thread has its own module instances.
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

/** A loader of one addon: loads it on its first call and gives that outcome ever after. */
export function addonLoader<T>(from: string, paths: readonly string[]): () => AddonLoad<T> {
  let loaded: AddonLoad<T> | undefined;
  return () => (loaded ??= loadNativeAddon<T>(from, paths));
}
