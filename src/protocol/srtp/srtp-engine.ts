/**
 * Which engine protects SRTP in this thread: libsrtp2 through the native
 * addon (no cipher or HMAC object per packet) or node:crypto (the fallback
 * and the reference in tests). A process-wide choice, per thread: each
 * worker thread has its own module state and makes its own choice (the
 * proxy's media workers call useSrtpEngine with the startup config's
 * proxy.srtpEngine, as the main thread does).
 *
 * Nobody chose: STREAMMESH_PROXY_SRTP_ENGINE, else `auto`.
 * - `libsrtp` refuses (SrtpEngineError) when the addon is not built.
 * - `auto` is libsrtp when the addon loads, else node, and says why once.
 */
import type { Logger } from '../../shared/log.js';
import { SrtpEngineError } from './errors.js';
import type { SrtpKeyingMaterial } from './keys.js';
import { loadLibsrtpAddon } from './libsrtp-addon.js';
import type { SrtpEngineChoice, SrtpEngineName } from './srtp-context.js';
import { SrtpSession, type SrtpSessionOptions } from './srtp-session.js';

export const srtpEngineChoices: readonly SrtpEngineChoice[] = Object.freeze([
  'auto',
  'libsrtp',
  'node',
]);

let engine: SrtpEngineName | undefined;
let fallbackReason: string | undefined;

function isChoice(value: unknown): value is SrtpEngineChoice {
  return typeof value === 'string' && (srtpEngineChoices as readonly string[]).includes(value);
}

/**
 * Sets this thread's engine and returns the one in force. Throws
 * SrtpEngineError for an unknown name, or for `libsrtp` without the addon
 * (a proxy configured so refuses to start). With `auto` and no addon, the
 * reason goes to `log` (or a process warning) once.
 */
export function useSrtpEngine(choice: SrtpEngineChoice, log?: Logger): SrtpEngineName {
  if (!isChoice(choice)) {
    throw new SrtpEngineError(`SRTP engine must be one of ${srtpEngineChoices.join(', ')}`);
  }
  engine = resolve(choice, log);
  return engine;
}

/** The engine in force in this thread (resolving the default when nobody chose). */
export function currentSrtpEngine(): SrtpEngineName {
  if (engine === undefined) {
    const fromEnv = process.env['STREAMMESH_PROXY_SRTP_ENGINE'];
    const choice = fromEnv === undefined || fromEnv === '' ? 'auto' : fromEnv;
    if (!isChoice(choice)) {
      throw new SrtpEngineError(
        `STREAMMESH_PROXY_SRTP_ENGINE must be one of ${srtpEngineChoices.join(', ')}`,
      );
    }
    engine = resolve(choice, undefined);
  }
  return engine;
}

/**
 * Whose AES (CM, GCM) and HMAC-SHA1 the libsrtp engine runs (libsrtp-addon's
 * crypto()), or undefined when the addon is not loaded.
 */
export function libsrtpCrypto(): string | undefined {
  const loaded = loadLibsrtpAddon();
  return 'error' in loaded ? undefined : loaded.addon.crypto();
}

/** Why `auto` chose node in this thread, or undefined. */
export function srtpEngineFallbackReason(): string | undefined {
  return fallbackReason;
}

/**
 * An SRTP session on this thread's engine, or on `engineName` when given
 * (tests, benchmarks). Its ok packets may be views it reuses on its next
 * call (SrtpContext): a caller that keeps them copies, or wraps the session
 * in withOwnedPackets.
 */
export function createSrtpSession(
  keys: SrtpKeyingMaterial,
  options: SrtpSessionOptions = {},
  engineName: SrtpEngineName = currentSrtpEngine(),
): SrtpSession {
  return new SrtpSession(keys, options, engineName);
}

function resolve(choice: SrtpEngineChoice, log: Logger | undefined): SrtpEngineName {
  if (choice === 'node') return 'node';
  const loaded = loadLibsrtpAddon();
  if (!('error' in loaded)) return 'libsrtp';
  if (choice === 'libsrtp') {
    throw new SrtpEngineError(
      `SRTP engine libsrtp asked for, but its addon (native/srtp, needs libsrtp2-dev; ` +
        `node scripts/build-native.mjs srtp) is not loaded: ${loaded.error}`,
    );
  }
  if (fallbackReason === undefined) {
    fallbackReason = `libsrtp addon not loaded (${loaded.error})`;
    const message = `SRTP engine auto: using node:crypto, ${fallbackReason}`;
    if (log === undefined) process.emitWarning(message, { code: 'STREAMMESH_SRTP_ENGINE' });
    else log.warn({ srtpEngine: 'node', reason: fallbackReason }, message);
  }
  return 'node';
}
