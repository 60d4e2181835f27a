import type { SrtpLegConfig } from '../../../src/config/index.js';
import {
  SrtpSession,
  createSrtpSession,
  formatInlineKey,
  generateKeyingMaterial,
  parseInlineKey,
  type SrtpKeyingMaterial,
  type SrtpProfile,
} from '../../../src/protocol/srtp/index.js';

/**
 * The SRTP state of one leg. Two sessions with the same keys: one for what
 * this proxy sends on the leg, one for what it receives on it, so sender and
 * receiver rollover/replay state never mix. On this thread's SRTP engine
 * (createSrtpSession): with libsrtp a packet they return is a view reused on
 * their next call, which the relay copies into its send slab at once.
 */
export class SrtpLeg {
  readonly profile: SrtpProfile;
  /** The SDES inline value, for the admin /keys endpoint. */
  readonly inlineKey: string;
  readonly generated: boolean;
  readonly send: SrtpSession;
  readonly receive: SrtpSession;

  constructor(config: SrtpLegConfig) {
    const keys: SrtpKeyingMaterial =
      config.key === 'generate'
        ? generateKeyingMaterial(config.profile)
        : parseInlineKey(config.profile, config.key);
    this.profile = config.profile;
    this.generated = config.key === 'generate';
    this.inlineKey = formatInlineKey(keys);
    this.send = createSrtpSession(keys);
    this.receive = createSrtpSession(keys);
  }

  /** Both sessions' packets the libsrtp engine handed to node:crypto. */
  get nodeCryptoPackets(): number {
    return this.send.nodeCryptoPackets + this.receive.nodeCryptoPackets;
  }
}
