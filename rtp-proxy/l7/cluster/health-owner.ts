/**
 * Which of a proxy's L7 threads probes an endpoint (health-check.ts): one
 * per endpoint, so that with N threads an endpoint is asked once per
 * interval, not N times, as Envoy probes once per proxy.
 *
 * The owner is a hash of the cluster's name and the endpoint's id modulo the
 * thread count, which is fixed for the life of the proxy (proxy.workers is
 * read at start): every thread computes the same owner without asking, a
 * restarted thread owns the same endpoints as before, and an endpoint keeps
 * its owner across config changes. The hash is node:crypto's SHA-256 (its
 * first 32 bits), not the media workers' FNV-1a, which lives in their module.
 */
import { createHash } from 'node:crypto';

/** Which thread this is, of how many. */
export interface ThreadPlace {
  /** 0..threads-1. */
  readonly index: number;
  readonly threads: number;
}

/** The thread (0..threads-1) that probes `endpointId` of `cluster`. */
export function healthOwner(cluster: string, endpointId: string, threads: number): number {
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`threads must be a positive integer, not ${threads}`);
  }
  // \0 cannot be in either part: "a" + "b:1" and "ab" + ":1" stay apart.
  const digest = createHash('sha256').update(`${cluster}\0${endpointId}`).digest();
  return digest.readUInt32BE(0) % threads;
}

/** Whether the thread at `place` probes `endpointId` of `cluster`. */
export function ownsEndpoint(place: ThreadPlace, cluster: string, endpointId: string): boolean {
  return healthOwner(cluster, endpointId, place.threads) === place.index;
}
