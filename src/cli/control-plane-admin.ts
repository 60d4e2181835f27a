/**
 * How a command of the CLI (`drain`, `token`) reaches the control plane's
 * admin API, as the roles find it: its address is the config's
 * controlPlane.admin (--config FILE, else the defaults, with
 * STREAMMESH_CONTROL_PLANE_ADMIN over both), and the admin token is
 * STREAMMESH_ADMIN_TOKEN, else the token file the control plane created
 * (controlPlane.adminTokenFile). The CLI reads the token itself: the
 * AdminCredentials of the roles verify a token but never hand it out.
 *
 * Anything the user can fix (no token, a control plane that does not
 * answer, a refused token or body) is a CommandUsageError: one line on
 * stderr and exit 2.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultConfig, loadConfigFile, type MeshConfig } from '../config/index.js';
import { ADMIN_TOKEN_VARIABLE, defaultAdminTokenFile } from '../shared/admin/index.js';
import { validHostPort } from '../shared/address.js';
import { errorMessage, StreammeshError } from '../shared/errors.js';
import { exitOnConfigError } from './config-error.js';

/** How long a command waits for the control plane's answer. */
const REQUEST_TIMEOUT_MS = 10_000;

/** A problem the user can fix; printed as one line, exit 2. */
export class CommandUsageError extends StreammeshError {
  constructor(message: string, code = 'ERR_COMMAND_USAGE') {
    super(code, message);
  }
}

/**
 * A command's run: its config (a bad one is exit 2, as the roles do), then
 * `work`, whose text goes to stdout; a failure is one line on stderr naming
 * the command, exit 2 for what the user can fix (CommandUsageError), else 1.
 */
export async function runAdminCommand(
  name: string,
  configFile: string | undefined,
  env: NodeJS.ProcessEnv,
  work: (config: MeshConfig) => Promise<string>,
): Promise<number> {
  let config: MeshConfig;
  try {
    config = await commandConfig(configFile, env);
  } catch (error) {
    return exitOnConfigError(error);
  }
  try {
    process.stdout.write(await work(config));
    return 0;
  } catch (error) {
    process.stderr.write(`streammesh ${name}: ${errorMessage(error)}\n`);
    return error instanceof CommandUsageError ? 2 : 1;
  }
}

/** The config a command runs with: --config FILE, else the defaults (both with the environment). */
export async function commandConfig(
  configFile: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<MeshConfig> {
  return configFile === undefined ? defaultConfig(env) : await loadConfigFile(configFile, env);
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
    throw new CommandUsageError(
      `no admin token: set ${ADMIN_TOKEN_VARIABLE}, or run where the control plane's ` +
        `token file is (${file}: ${errorMessage(error)})`,
    );
  }
  if (token === '') throw new CommandUsageError(`no admin token in ${file}`);
  return token;
}

export interface AdminAnswer {
  readonly status: number;
  /** The JSON object answered, undefined when the body is not one. */
  readonly body: Record<string, unknown> | undefined;
  readonly url: string;
}

/** POSTs `body` as JSON to `path` with the admin token. */
export async function postAdmin(
  config: MeshConfig,
  env: NodeJS.ProcessEnv,
  path: string,
  body: unknown,
): Promise<AdminAnswer> {
  const adminUrl = adminUrlOf(config);
  const token = adminTokenOf(config, env);
  const url = `${adminUrl}${path}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    throw new CommandUsageError(
      `cannot reach the control plane's admin at ${adminUrl} ` +
        `(${errorMessage(cause ?? error)}); is it running? (controlPlane.admin)`,
    );
  }
  return { status: response.status, body: parseJson(await response.text()), url };
}

/** The error for an answer the command did not want: 401 and 400 are the user's to fix. */
export function unexpectedAnswer(answer: AdminAnswer): Error {
  const said = typeof answer.body?.['error'] === 'string' ? `: ${answer.body['error']}` : '';
  switch (answer.status) {
    case 401:
      return new CommandUsageError(
        `the control plane at ${new URL(answer.url).origin} refused the admin token`,
      );
    case 400:
      return new CommandUsageError(`the control plane refused the request${said}`);
    default:
      return new Error(`unexpected answer ${answer.status} from ${answer.url}${said}`);
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
