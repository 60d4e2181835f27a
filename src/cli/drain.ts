/**
 * `streammesh drain <node-id> [--deadline 60s]`: asks the control plane to
 * drain a node (POST /nodes/<id>/drain on its admin). The node takes no new
 * session, its sessions are handed to other proxies, and its own viewers
 * keep playing until the deadline.
 *
 * The control plane and its admin token are found as control-plane-admin.ts
 * says.
 *
 * One line out: `<node> draining until <ISO time>`, exit 0. Anything the
 * user can fix (a bad argument, an unknown node, no token, a control plane
 * that does not answer) is one line on stderr and exit 2; an answer the
 * command does not expect is exit 1.
 */
import type { MeshConfig } from '../config/index.js';
import {
  CommandUsageError,
  postAdmin,
  runAdminCommand,
  unexpectedAnswer,
} from './control-plane-admin.js';
import { durationSeconds } from './duration.js';

export { adminTokenOf, adminUrlOf } from './control-plane-admin.js';

export const DEFAULT_DEADLINE_SEC = 60;
export const MAX_DEADLINE_SEC = 3600;

/** What `streammesh drain` was asked: which node, for how long. */
export interface DrainArgs {
  readonly node: string;
  readonly deadlineSec: number;
}

/** A problem the user can fix; printed as one line, exit 2. */
export class DrainUsageError extends CommandUsageError {
  constructor(message: string) {
    super(message, 'ERR_DRAIN_USAGE');
  }
}

/** `60s`, `2m`, `1h`, or plain seconds (`90`), within 1..MAX_DEADLINE_SEC seconds. */
export function parseDeadline(text: string): number {
  const seconds = durationSeconds(text);
  if (seconds === undefined || seconds < 1 || seconds > MAX_DEADLINE_SEC) {
    throw new DrainUsageError(
      `bad --deadline ${JSON.stringify(text)}: give seconds (90), or 60s, 2m, 1h; ` +
        `from 1 s to ${MAX_DEADLINE_SEC / 60} min`,
    );
  }
  return seconds;
}

/** The positionals after `drain` (exactly one node id) and the --deadline option. */
export function parseDrainArgs(positionals: readonly string[], deadline?: string): DrainArgs {
  const [node, ...extra] = positionals;
  if (node === undefined)
    throw new DrainUsageError('which node? usage: streammesh drain <node-id>');
  if (extra.length > 0) throw new DrainUsageError(`unexpected argument: ${extra.join(' ')}`);
  return {
    node,
    deadlineSec: deadline === undefined ? DEFAULT_DEADLINE_SEC : parseDeadline(deadline),
  };
}

export async function runDrain(
  positionals: readonly string[],
  deadline: string | undefined,
  configFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  return runAdminCommand('drain', configFile, env, async (config) => {
    const answer = await requestDrain(config, env, parseDrainArgs(positionals, deadline));
    return `${answer.node} draining until ${answer.deadline}\n`;
  });
}

async function requestDrain(
  config: MeshConfig,
  env: NodeJS.ProcessEnv,
  args: DrainArgs,
): Promise<{ node: string; deadline: string }> {
  const answer = await postAdmin(config, env, `/nodes/${encodeURIComponent(args.node)}/drain`, {
    deadlineSec: args.deadlineSec,
  });
  if (answer.status === 202 && isAnswer(answer.body)) return answer.body;
  if (answer.status === 404) {
    throw new DrainUsageError(
      `no node ${args.node} is registered at ${new URL(answer.url).origin}`,
    );
  }
  throw unexpectedAnswer(answer);
}

function isAnswer(
  body: Record<string, unknown> | undefined,
): body is { node: string; deadline: string } {
  return typeof body?.['node'] === 'string' && typeof body['deadline'] === 'string';
}
