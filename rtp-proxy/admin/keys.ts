import { createHash } from 'node:crypto';
import type { AdminServer } from '../../src/shared/admin/index.js';
import type { MediaRouteKeys, RouteKeySource } from '../media/workers/index.js';

/** What GET /keys shows without `?reveal=true`: enough to tell keys apart, nothing to decrypt with. */
export interface KeySummary {
  readonly route: string;
  readonly leg: string;
  readonly profile: string;
  readonly generated: boolean;
  /** First 16 hex digits of SHA-256 of the inline key: equal keys, equal fingerprints. */
  readonly fingerprint: string;
}

export function keyFingerprint(inline: string): string {
  return createHash('sha256').update(inline).digest('hex').slice(0, 16);
}

function summarize(key: MediaRouteKeys): KeySummary {
  const { route, leg, profile, generated } = key;
  return { route, leg, profile, generated, fingerprint: keyFingerprint(key.inline) };
}

/**
 * `GET /keys`: the SRTP keys of every leg (generated ones included), kept
 * apart from /streams so that statistics can be shared without sharing
 * secrets. Only holders of the admin token may ask, and even they get key
 * material only when they ask for it explicitly (`?reveal=true`); otherwise
 * each key's route, leg, profile and fingerprint.
 */
export function addKeyRoutes(admin: AdminServer, relay: RouteKeySource): void {
  admin.route(
    'GET',
    '/keys',
    async (request) => {
      // A worker restarting or too busy to answer: its legs are missing, and the answer says so.
      const { keys, missingWorkers } = relay.keysReport
        ? await relay.keysReport()
        : { keys: await relay.keys(), missingWorkers: [] };
      const reveal = request.url.searchParams.get('reveal') === 'true';
      return {
        status: 200,
        body: {
          keys: reveal
            ? keys.map((key) => ({ ...summarize(key), inline: key.inline }))
            : keys.map(summarize),
          ...(missingWorkers.length === 0 ? {} : { missingWorkers }),
        },
      };
    },
    { access: 'token' },
  );
}
