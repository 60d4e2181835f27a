/**
 * The SRTP engine of this proxy's main thread, chosen once at start from
 * proxy.srtpEngine (or STREAMMESH_PROXY_SRTP_ENGINE), and its gauge:
 * streammesh_proxy_srtp_engine{engine="libsrtp"|"node",crypto} 1, crypto
 * saying whose AES and HMAC-SHA1 run: "openssl" or "libsrtp" (libsrtp's own,
 * STREAMMESH_PROXY_SRTP_CRYPTO=libsrtp or a refused replacement, whose
 * reason the log line gives) for libsrtp, "node" for node:crypto. Media
 * workers make the same choice from the same startup config (media/workers).
 */
import { Gauge, type Registry } from 'prom-client';
import type { MeshConfig } from '../../../src/config/index.js';
import {
  libsrtpCrypto,
  useSrtpEngine,
  type SrtpEngineName,
} from '../../../src/protocol/srtp/index.js';
import type { Logger } from '../../../src/shared/log.js';

/**
 * Sets the engine (throws SrtpEngineError for `libsrtp` without its addon:
 * the proxy refuses to start) and registers the gauge. Returns the engine.
 */
export function startSrtpEngine(
  metrics: Registry,
  choice: MeshConfig['proxy']['srtpEngine'],
  log: Logger,
): SrtpEngineName {
  const engine = useSrtpEngine(choice, log);
  const crypto = engine === 'libsrtp' ? (libsrtpCrypto() ?? 'libsrtp') : 'node';
  log.info({ srtpEngine: engine, configured: choice, crypto }, 'SRTP engine');
  const gauge = new Gauge({
    name: 'streammesh_proxy_srtp_engine',
    help: 'The SRTP engine in use: 1 for the engine in force (libsrtp: libsrtp2 through native/srtp; node: node:crypto) and whose AES and HMAC-SHA1 it runs (openssl, libsrtp or node)',
    labelNames: ['engine', 'crypto'],
    registers: [metrics],
  });
  // The label names whose primitives run; the log line above keeps the reason for libsrtp's own.
  const primitives = engine === 'node' ? 'node' : crypto === 'openssl' ? 'openssl' : 'libsrtp';
  gauge.set({ engine, crypto: primitives }, 1);
  return engine;
}
