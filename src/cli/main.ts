/**
 * The `streammesh` command. Exit codes: 0 success, 1 runtime failure,
 * 2 bad usage or a bad config (nothing was started).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigFile, meshConfigJsonSchema } from '../config/index.js';
import { closestName } from '../shared/did-you-mean.js';
import { errorMessage } from '../shared/errors.js';
import { packageRoot } from '../shared/package-root.js';
import { exitOnConfigError } from './config-error.js';
import { DEFAULT_DEADLINE_SEC, MAX_DEADLINE_SEC, runDrain } from './drain.js';
import { runRole, type RoleName } from './role-process.js';
import { runCert } from './cert.js';
import { runToken, type TokenOptions } from './token.js';
import { up } from './up/index.js';

interface Command {
  readonly usage: string;
  readonly summary: string;
  readonly details: string;
  readonly run: (positionals: string[], values: CommandValues) => Promise<number>;
  /** Takes positionals (`config validate FILE`, `drain NODE`); others refuse them. */
  readonly positionals?: boolean;
}

/** The parsed options a command runs with. */
interface CommandValues {
  readonly config: string | undefined;
  readonly verbose: boolean;
  readonly deadline: string | undefined;
  readonly token: TokenOptions;
  readonly out: string | undefined;
  readonly name: string | undefined;
}

const CONFIG_OPTION = '  -c, --config FILE   the mesh config (YAML); default: built-in defaults\n';

const commands: Record<string, Command> = {
  up: {
    usage: 'streammesh up [--config FILE] [--verbose]',
    summary: 'run the whole mesh on this machine (control plane, rtp-proxy, signaling)',
    details:
      'Starts each role as a supervised child process and prints one line per role\n' +
      'with its admin URL once it serves its config. A role that cannot start ends\n' +
      '`up` with exit code 2 and the reason; one that crashes later is restarted with\n' +
      'backoff. Warnings and errors are shown; full logs (JSON lines) go to\n' +
      '$XDG_STATE_HOME/streammesh/up.log. Ctrl-C (SIGINT) or SIGTERM stops them all.\n\n' +
      CONFIG_OPTION +
      '      --verbose       also write every log line to stderr\n',
    run: (_positionals, { config, verbose }) => up({ configFile: config, verbose }),
  },
  'control-plane': roleCommand('control-plane', 'run the control plane: registry and config push'),
  proxy: roleCommand('proxy', 'run an rtp-proxy (the data plane)'),
  signaling: roleCommand('signaling', 'run a signaling node (WebRTC edge and SFU)'),
  config: {
    usage: 'streammesh config validate FILE | streammesh config schema',
    summary: 'check a config file, or print the config JSON Schema',
    details:
      '  validate FILE   exit 0 if FILE is a valid config; otherwise print each problem\n' +
      '                  as FILE: field.path: reason, and exit 2\n' +
      '  schema          print the JSON Schema of the config file\n',
    run: runConfigCommand,
    positionals: true,
  },
  drain: {
    usage: 'streammesh drain <node-id> [--deadline 60s] [--config FILE]',
    summary:
      'drain a node: its sessions move to other proxies, its viewers play until the deadline',
    details:
      'Asks the control plane (its admin at controlPlane.admin, with the admin token) to\n' +
      'drain the node: it takes no new session, its cameras are handed over to other\n' +
      'proxies without a gap for their viewers elsewhere, and its own viewers keep\n' +
      'playing until the deadline. Prints `<node> draining until <time>`. Exit 2 for an\n' +
      'unknown node, a bad deadline or a control plane that does not answer.\n\n' +
      `      --deadline TIME how long its viewers may stay: 90 (seconds), 60s, 2m, 1h;\n` +
      `                      default ${DEFAULT_DEADLINE_SEC}s, at most ${MAX_DEADLINE_SEC / 60}m\n` +
      CONFIG_OPTION,
    run: (positionals, { config, deadline }) => runDrain(positionals, deadline, config),
    positionals: true,
  },
  token: {
    usage:
      'streammesh token (--path NAME... | --room NAME...) [--role viewer|publisher] [--ttl 1h] [--sub TEXT] [--compact] [--config FILE]',
    summary: 'mint an edge token (a JWT) for RTSP, WHIP/WHEP or WebSocket rooms',
    details:
      'Asks the control plane (its admin at controlPlane.admin, with the admin token) for a\n' +
      'token signed by its token-issuer certificate, and prints the token alone. Edges\n' +
      'take it as ?jwt=TOKEN (RTSP, WHIP/WHEP), ?access_token=TOKEN (WebSocket) or\n' +
      '`Authorization: Bearer TOKEN`, where proxy.rtsp.auth.jwt or signaling.requireToken\n' +
      'is on. A publisher token may also view.\n\n' +
      '      --path NAME     a camera path it opens (repeatable; "*" for every path)\n' +
      '      --room NAME     a signaling room it opens (repeatable; "*" for every room)\n' +
      '      --role ROLE     viewer (default) or publisher\n' +
      '      --ttl TIME      its lifetime: 90 (seconds), 30m, 1h, 7d; default 1h, at most 30d\n' +
      '      --sub TEXT      whom it is for (free text; the RTSP proxy takes it as the user)\n' +
      '      --compact       name the signing certificate instead of carrying it: ~0.4 KiB\n' +
      '                      instead of ~1.3 (ffmpeg cuts RTSP URLs at 1 KiB); an edge takes\n' +
      '                      it once it has seen one full token of that certificate\n' +
      CONFIG_OPTION,
    run: (_positionals, { config, token }) => runToken(token, config),
  },
  cert: {
    usage:
      'streammesh cert operator --out DIR [--name operator] [--config FILE]\n' +
      '       streammesh cert revoke SERIAL [--config FILE]',
    summary:
      'get an operator certificate from the mesh CA (for the mutual-TLS admin listener), or revoke one',
    details:
      'Makes a key here, sends its CSR to the control plane (its admin at controlPlane.admin,\n' +
      'with the admin token) and writes DIR/operator-key.pem (0600), DIR/operator.pem and\n' +
      'DIR/bundle.pem. On controlPlane.adminMtls that certificate stands for the admin token.\n\n' +
      '      --out DIR       where to write the key, certificate and trust bundle\n' +
      '      --name NAME     the service account in spiffe://<trust domain>/ns/streammesh/sa/NAME\n' +
      '                      (default operator; it must be one of controlPlane.operators)\n\n' +
      'revoke SERIAL revokes a certificate of the mesh CA (hex, as GET /ca or openssl prints\n' +
      'it): every mTLS port of the mesh refuses it until it expires; a node holding it is cut off.\n' +
      CONFIG_OPTION,
    run: ([kind, serial], { config, out, name }) => runCert({ kind, serial, out, name }, config),
    positionals: true,
  },
};

/** Options that belong to one command only. */
const COMMAND_OPTIONS: Readonly<Record<string, string>> = {
  verbose: 'up',
  deadline: 'drain',
  path: 'token',
  room: 'token',
  role: 'token',
  ttl: 'token',
  sub: 'token',
  compact: 'token',
  out: 'cert',
  name: 'cert',
};

function roleCommand(role: RoleName, summary: string): Command {
  return {
    usage: `streammesh ${role} [--config FILE]`,
    summary,
    details:
      CONFIG_OPTION +
      '\nSettings also come from STREAMMESH_* environment variables (see the README).\n',
    run: (_positionals, { config }) => runRole(role, config),
  };
}

async function runConfigCommand(positionals: string[]): Promise<number> {
  const [action, file, ...extra] = positionals;
  if (action === 'schema' && file === undefined) {
    process.stdout.write(`${JSON.stringify(meshConfigJsonSchema(), null, 2)}\n`);
    return 0;
  }
  if (action === 'validate' && file !== undefined && extra.length === 0) {
    try {
      await loadConfigFile(file);
    } catch (error) {
      return exitOnConfigError(error);
    }
    process.stdout.write(`${file}: valid\n`);
    return 0;
  }
  return usageError(`usage: ${commands['config']?.usage ?? ''}`);
}

function generalHelp(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const lines = Object.entries(commands).map(
    ([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`,
  );
  return (
    'streammesh - a service mesh for real-time media\n\n' +
    'usage: streammesh <command> [options]\n\n' +
    `commands:\n${lines.join('\n')}\n\n` +
    'Run `streammesh <command> --help` for the options of one command.\n'
  );
}

function usageError(message: string): number {
  process.stderr.write(`${message}\n`);
  return 2;
}

function version(): string {
  const text = readFileSync(join(packageRoot(), 'package.json'), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** The options every command takes, and those of one command (COMMAND_OPTIONS). */
const options = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
  verbose: { type: 'boolean' },
  deadline: { type: 'string' },
  path: { type: 'string', multiple: true },
  room: { type: 'string', multiple: true },
  role: { type: 'string' },
  ttl: { type: 'string' },
  sub: { type: 'string' },
  compact: { type: 'boolean' },
  out: { type: 'string' },
  name: { type: 'string' },
} as const;

export async function main(argv: string[]): Promise<number> {
  // The command is known before the options are checked, so a bad option gets that command's usage.
  const named = argv.find((arg) => !arg.startsWith('-'));
  const namedCommand = named === undefined ? undefined : commands[named];
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options });
  } catch (error) {
    const usage = namedCommand === undefined ? generalHelp() : `usage: ${namedCommand.usage}\n`;
    return usageError(`${optionError(error)}\n\n${usage}`);
  }
  const { values, positionals } = parsed;
  let [name, ...rest] = positionals;
  if (values.version === true) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  let help = values.help === true;
  // `streammesh help [command]` is `streammesh [command] --help`.
  if (name === 'help') {
    [name, ...rest] = rest;
    help = true;
    if (name === undefined) {
      process.stdout.write(generalHelp());
      return 0;
    }
  }
  if (name === undefined) {
    process.stdout.write(generalHelp());
    return help ? 0 : 2;
  }
  const command = commands[name];
  if (command === undefined) {
    const meant = closestName(name, [...Object.keys(commands), 'help']);
    const hint = meant === undefined ? '' : ` (did you mean \`${meant}\`?)`;
    return usageError(`unknown command: ${name}${hint}\n\n${generalHelp()}`);
  }
  if (help) {
    process.stdout.write(`usage: ${command.usage}\n\n${command.summary}\n\n${command.details}`);
    return 0;
  }
  for (const [option, owner] of Object.entries(COMMAND_OPTIONS)) {
    if (values[option as keyof typeof values] !== undefined && name !== owner) {
      return usageError(`--${option} is an option of \`${owner}\` only\nusage: ${command.usage}`);
    }
  }
  if (rest.length > 0 && command.positionals !== true) {
    return usageError(`unexpected argument: ${rest.join(' ')}\nusage: ${command.usage}`);
  }
  return command.run(rest, {
    config: values.config,
    verbose: values.verbose === true,
    deadline: values.deadline,
    token: {
      path: values.path,
      room: values.room,
      role: values.role,
      ttl: values.ttl,
      sub: values.sub,
      compact: values.compact,
    },
    out: values.out,
    name: values.name,
  });
}

/** parseArgs' complaint, with the option meant when the unknown one is a near miss. */
function optionError(error: unknown): string {
  const message = errorMessage(error);
  const unknown = /Unknown option '(-{1,2})([^']+)'/.exec(message);
  if (unknown === null) return message;
  const [, dashes = '', given = ''] = unknown;
  const meant = dashes === '--' ? closestName(given, Object.keys(options)) : undefined;
  const hint = meant === undefined ? '' : ` (did you mean --${meant}?)`;
  return `unknown option: ${dashes}${given}${hint}`;
}
