/**
 * When a workload certificate is renewed: at half of its lifetime, as Istio
 * and Linkerd do, so a control plane that is down for a while (up to half a
 * lifetime, 12 h by default) costs no certificate. The lifetime counts from
 * when the node received the certificate, not from its notBefore: the CA
 * backdates notBefore by 5 minutes for clock skew, which would make a short
 * lifetime look 5 minutes longer and the renewal come late.
 *
 * The timers the renewal runs on are injected (IdentityTimers), so a test
 * states exact times instead of waiting for them.
 */
import type { Clock } from '../../shared/clock.js';

/** Unix ms at which a certificate received at `issuedAtMs` and valid until `notAfterMs` is renewed. */
export function renewalTime(issuedAtMs: number, notAfterMs: number): number {
  return issuedAtMs + Math.max(0, notAfterMs - issuedAtMs) / 2;
}

/** The time now, and a one-shot timer that never keeps the process alive. */
export interface IdentityTimers extends Clock {
  /** Calls `callback` after `delayMs`; the returned function cancels it. */
  after(delayMs: number, callback: () => void): () => void;
}

export const systemIdentityTimers: IdentityTimers = {
  now: () => Date.now(),
  after(delayMs, callback) {
    // Past setTimeout's 2^31-1 ms limit it would fire at once; a renewal that far off is re-armed.
    const timer = setTimeout(callback, Math.min(delayMs, 2 ** 31 - 1));
    timer.unref();
    return () => clearTimeout(timer);
  },
};
