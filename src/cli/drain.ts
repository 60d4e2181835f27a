/**
 * `streammesh drain <node-id> [--deadline 60s]`: asks the control plane to
 * drain a node (POST /nodes/<id>/drain on its admin). The node takes no new
 * session, its sessions are handed to other proxies, and its own viewers
 * keep playing until the deadline.
 *
 * The control plane is found as the roles find it: its admin address is
 * the config's controlPlane.admin (--config FILE, else the defaults, with
 * STREAMMESH_CONTROL_PLANE_ADMIN over both), and the admin token is
 * STREAMMESH_ADMIN_TOKEN, else the token file the control plane created
 * (controlPlane.adminTokenFile). The CLI reads the token itself: the
 * AdminCredentials of the roles verify a token but never hand it out.
 *
 * One line out: `<node> draining until <ISO time>`, exit 0. Anything the
 * user can fix (a bad argument, an unknown node, no token, a control plane
 * that does not answer) is one line on stderr and exit 2; an answer the
 * command does not expect is exit 1.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultConfig, loadConfigFile, type MeshConfig } from '../config/index.js';
import { ADMIN_TOKEN_VARIABLE, defaultAdminTokenFile } from '../shared/admin/index.js';
import { validHostPort } from '../shared/address.js';
import { errorMessage, StreammeshError } from '../shared/errors.js';
import { exitOnConfigError } from './config-error.js';

export const DEFAULT_DEADLINE_SEC = 60;
export const MAX_DEADLINE_SEC = 3600;
/** How long the command waits for the control plane's answer. */
const REQUEST_TIMEOUT_MS = 10_000;

const UNIT_SECONDS: Readonly<Record<string, number>> = { '': 1, s: 1, m: 60, h: 3600 };

/** What `streammesh drain` was asked: which node, for how long. */
export interface DrainArgs {
  readonly node: string;
  readonly deadlineSec: number;
}

/** A problem the user can fix; printed as one line, exit 2. */
export class DrainUsageError extends StreammeshError {
  constructor(message: string) {
    super('ERR_DRAIN_USAGE', message);
  }
}

/** `60s`, `2m`, `1h`, or plain seconds (`90`), within 1..MAX_DEADLINE_SEC seconds. */
export function parseDeadline(text: string): number {
  const match = /^(\d{1,7})(s|m|h)?$/.exec(text.trim());
  const seconds =
    match === null ? undefined : Number(match[1]) * (UNIT_SECONDS[match[2] ?? ''] ?? 1);
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

/** The control plane's admin base URL; a wildcard listen address is reached on loopback. */
export function adminUrlOf(config: MeshConfig): string {
  const { host, port } = validHostPort(config.controlPlane.admin);
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

/** The admin token: the variable, else the control plane's token file. */
export function adminTokenOf(config: MeshConfig, env: NodeJS.ProcessEnv): string {
  const variable = env[ADMIN_TOKEN_VARIABLE];
  if (variable !== undefined && variable !== '') return variable;
  const file = resolve(config.controlPlane.adminTokenFile ?? defaultAdminTokenFile(env));
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new DrainUsageError(
      `no admin token: set ${ADMIN_TOKEN_VARIABLE}, or run where the control plane's ` +
        `token file is (${file}: ${errorMessage(error)})`,
    );
  }
  if (token === '') throw new DrainUsageError(`no admin token in ${file}`);
  return token;
}

export async function runDrain(
  positionals: readonly string[],
  deadline: string | undefined,
  configFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let config: MeshConfig;
  try {
    config = configFile === undefined ? defaultConfig(env) : await loadConfigFile(configFile, env);
  } catch (error) {
    return exitOnConfigError(error);
  }
  try {
    const args = parseDrainArgs(positionals, deadline);
    const answer = await requestDrain(adminUrlOf(config), adminTokenOf(config, env), args);
    process.stdout.write(`${answer.node} draining until ${answer.deadline}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`streammesh drain: ${errorMessage(error)}\n`);
    return error instanceof DrainUsageError ? 2 : 1;
  }
}

async function requestDrain(
  adminUrl: string,
  token: string,
  args: DrainArgs,
): Promise<{ node: string; deadline: string }> {
  const url = `${adminUrl}/nodes/${encodeURIComponent(args.node)}/drain`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ deadlineSec: args.deadlineSec }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    throw new DrainUsageError(
      `cannot reach the control plane's admin at ${adminUrl} ` +
        `(${errorMessage(cause ?? error)}); is it running? (controlPlane.admin)`,
    );
  }
  const text = await response.text();
  const body = parseJson(text);
  if (response.status === 202 && isAnswer(body)) return body;
  const said = typeof body?.['error'] === 'string' ? `: ${body['error']}` : '';
  switch (response.status) {
    case 404:
      throw new DrainUsageError(`no node ${args.node} is registered at ${adminUrl}`);
    case 401:
      throw new DrainUsageError(`the control plane at ${adminUrl} refused the admin token`);
    case 400:
      throw new DrainUsageError(`the control plane refused the request${said}`);
    default:
      throw new Error(`unexpected answer ${response.status} from ${url}${said}`);
  }
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function isAnswer(
  body: Record<string, unknown> | undefined,
): body is { node: string; deadline: string } {
  return typeof body?.['node'] === 'string' && typeof body['deadline'] === 'string';
}
