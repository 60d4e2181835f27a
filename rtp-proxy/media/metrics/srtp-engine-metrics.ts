/**
 * The SRTP engine of this proxy's main thread, chosen once at start from
 * proxy.srtpEngine (or STREAMMESH_PROXY_SRTP_ENGINE), and its gauge:
 * streammesh_proxy_srtp_engine{engine="libsrtp"|"node"} 1. Media workers make
 * the same choice from the same startup config (media/workers).
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
  const crypto = engine === 'libsrtp' ? libsrtpCrypto() : undefined;
  log.info({ srtpEngine: engine, configured: choice, crypto }, 'SRTP engine');
  const gauge = new Gauge({
    name: 'streammesh_proxy_srtp_engine',
    help: 'The SRTP engine in use: 1 for the engine in force (libsrtp: libsrtp2 through native/srtp; node: node:crypto)',
    labelNames: ['engine'],
    registers: [metrics],
  });
  gauge.set({ engine }, 1);
  return engine;
}
