/**
 * Both SRTP engines for the tests that run against each (test/unit/protocol/srtp).
 * The libsrtp engine must really be there: a missing addon fails the test
 * that asks for it (test:all builds native/ with --strict), never skips it.
 */
import assert from 'node:assert/strict';
import {
  createSrtpSession,
  type SrtpEngineName,
  type SrtpKeyingMaterial,
} from '../../../src/protocol/srtp/index.js';
import { loadLibsrtpAddon } from '../../../src/protocol/srtp/libsrtp-addon.js';
import type { SrtpSession, SrtpSessionOptions } from '../../../src/protocol/srtp/srtp-session.js';

export const srtpEngines: readonly SrtpEngineName[] = ['node', 'libsrtp'];

export type SessionFactory = (
  keys: SrtpKeyingMaterial,
  options?: SrtpSessionOptions,
) => SrtpSession;

/** Sessions on `engine`; for libsrtp, asserts first that the addon loaded (natively). */
export function sessionsOn(engine: SrtpEngineName): SessionFactory {
  return (keys, options = {}) => {
    if (engine === 'libsrtp') {
      const loaded = loadLibsrtpAddon();
      assert.ok(!('error' in loaded), `the libsrtp addon must be built: ${JSON.stringify(loaded)}`);
    }
    const session = createSrtpSession(keys, options, engine);
    assert.equal(session.engine, engine);
    return session;
  };
}
