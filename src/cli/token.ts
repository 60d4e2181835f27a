/**
 * `streammesh token --path cam1 [--path cam2] | --room r1 [--role viewer|publisher]
 * [--ttl 1h] [--sub text] [--compact]`: asks the control plane to mint an edge token
 * (POST /tokens on its admin, with the admin token) and prints the token
 * alone on stdout, so that `TOKEN=$(streammesh token --path cam1)` works.
 *
 * The token is a JWT signed by the control plane's token-issuer certificate;
 * RTSP (`?jwt=` or Authorization: Bearer), WHIP/WHEP and WebSocket rooms
 * (`?access_token=`) check it against the mesh trust bundle. Default role
 * viewer, default lifetime 1 h, at most 30 days.
 */
import {
  DEFAULT_TOKEN_TTL_SEC,
  MAX_TOKEN_TTL_SEC,
  type MintRequest,
} from '../shared/edge-token/index.js';
import {
  CommandUsageError,
  postAdmin,
  runAdminCommand,
  unexpectedAnswer,
} from './control-plane-admin.js';
import { durationSeconds } from './duration.js';

/** The options of `streammesh token` as parseArgs gives them. */
export interface TokenOptions {
  readonly path?: readonly string[] | undefined;
  readonly room?: readonly string[] | undefined;
  readonly role?: string | undefined;
  readonly ttl?: string | undefined;
  readonly sub?: string | undefined;
  readonly compact?: boolean | undefined;
}

/** The request for the control plane; throws CommandUsageError for options that cannot make one. */
export function tokenRequestOf(options: TokenOptions): MintRequest {
  const paths = options.path ?? [];
  const rooms = options.room ?? [];
  if ((paths.length === 0) === (rooms.length === 0)) {
    throw new CommandUsageError(
      'give the camera paths (--path NAME, repeatable, "*" for all) or the rooms (--room NAME), not both',
    );
  }
  const role = options.role ?? 'viewer';
  if (role !== 'viewer' && role !== 'publisher') {
    throw new CommandUsageError(`bad --role ${JSON.stringify(role)}: viewer or publisher`);
  }
  const ttlSec = options.ttl === undefined ? DEFAULT_TOKEN_TTL_SEC : durationSeconds(options.ttl);
  if (ttlSec === undefined || ttlSec < 1 || ttlSec > MAX_TOKEN_TTL_SEC) {
    throw new CommandUsageError(
      `bad --ttl ${JSON.stringify(options.ttl)}: give seconds (90), or 60s, 30m, 1h, 7d; ` +
        `from 1 s to ${MAX_TOKEN_TTL_SEC / 86_400} days`,
    );
  }
  return {
    role,
    ttlSec,
    ...(paths.length > 0 ? { paths } : { rooms }),
    ...(options.sub === undefined ? {} : { sub: options.sub }),
    ...(options.compact === true ? { compact: true } : {}),
  };
}

export async function runToken(
  options: TokenOptions,
  configFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  return runAdminCommand('token', configFile, env, async (config) => {
    const answer = await postAdmin(config, env, '/tokens', tokenRequestOf(options));
    const token = answer.body?.['token'];
    if (answer.status !== 201 || typeof token !== 'string') throw unexpectedAnswer(answer);
    return `${token}\n`;
  });
}
