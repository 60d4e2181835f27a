/**
 * `POST /tokens` on the control plane's admin: mints an edge token (access
 * 'token': the admin token, as every write). JSON body
 * `{"role": "viewer"|"publisher", "paths": [...] | "rooms": [...], "sub"?, "ttlSec"?, "compact"?}`;
 * 201 `{"token", "expiresAt"}`, 400 with the reason for a bad body.
 *
 * The token itself is never logged: it opens media to whoever holds it.
 */
import { z } from 'zod';
import type { AdminServer } from '../../shared/admin/index.js';
import type { Clock } from '../../shared/clock.js';
import { EdgeTokenError, MAX_TOKEN_TTL_SEC } from '../../shared/edge-token/index.js';
import type { Logger } from '../../shared/log.js';
import type { MeshCa } from '../ca/index.js';
import { TokenIssuer, type TokenIssuerRevocations } from './token-issuer.js';

/** What POST /tokens answers. */
export interface TokenAnswer {
  readonly token: string;
  /** ISO 8601. */
  readonly expiresAt: string;
}

export interface TokenRouteOptions {
  readonly ca: MeshCa;
  readonly clock: Clock;
  readonly log: Logger;
  /** The root tokens' leaves come from (TokenIssuer.start); default the CA's issuer. */
  readonly signingRoot?: () => string;
  /** The revocation list: signing leaves are noted there, and a revoked one is replaced. */
  readonly revocations?: TokenIssuerRevocations;
}

const tokenBody = z
  .object({
    role: z.enum(['viewer', 'publisher']),
    paths: z.array(z.string()).optional(),
    rooms: z.array(z.string()).optional(),
    sub: z.string().optional(),
    ttlSec: z.number().int().min(1).max(MAX_TOKEN_TTL_SEC).optional(),
    compact: z.boolean().optional(),
  })
  .strict();

/** Makes the token-issuer certificate (at start: a CA that cannot issue fails here) and adds the route. */
/** Adds POST /tokens; returns its issuer (whose signing leaves the nodes are sent). */
export async function addTokenRoutes(
  admin: AdminServer,
  options: TokenRouteOptions,
): Promise<TokenIssuer> {
  const issuer = await TokenIssuer.start(
    options.ca,
    options.clock,
    options.signingRoot,
    options.revocations,
  );
  admin.route(
    'POST',
    '/tokens',
    async (request) => {
      const body = bodyOf(await request.body());
      if (typeof body === 'string') return { status: 400, body: { error: body } };
      try {
        const minted = await issuer.mint(body);
        options.log.info(
          { role: body.role, paths: body.paths, rooms: body.rooms, sub: body.sub },
          'edge token minted',
        );
        const answer: TokenAnswer = {
          token: minted.token,
          expiresAt: new Date(minted.expiresAtMs).toISOString(),
        };
        return { status: 201, body: answer };
      } catch (error) {
        if (error instanceof EdgeTokenError) {
          const status = error.code === 'ERR_EDGE_TOKEN_REQUEST' ? 400 : 503;
          return { status, body: { error: error.message } };
        }
        throw error;
      }
    },
    { access: 'token' },
  );
  return issuer;
}

/** The parsed body, or why it is refused. */
function bodyOf(text: string): z.output<typeof tokenBody> | string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return 'the body must be JSON, e.g. {"role": "viewer", "paths": ["cam1"], "ttlSec": 3600}';
  }
  const parsed = tokenBody.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.join('.') ?? '';
  return `${field === '' ? 'body' : field}: ${issue?.message ?? 'invalid'}`;
}
