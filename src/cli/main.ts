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
import { runRole, type RoleName } from './role-process.js';
import { up } from './up/index.js';

interface Command {
  readonly usage: string;
  readonly summary: string;
  readonly details: string;
  readonly run: (
    positionals: string[],
    configFile: string | undefined,
    verbose: boolean,
  ) => Promise<number>;
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
    run: (_positionals, configFile, verbose) => up({ configFile, verbose }),
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
  },
};

function roleCommand(role: RoleName, summary: string): Command {
  return {
    usage: `streammesh ${role} [--config FILE]`,
    summary,
    details:
      CONFIG_OPTION +
      '\nSettings also come from STREAMMESH_* environment variables (see the README).\n',
    run: (_positionals, configFile) => runRole(role, configFile),
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

/** The options every command takes; `up` adds --verbose. */
const options = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
  verbose: { type: 'boolean' },
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
  if (values.verbose === true && name !== 'up') {
    return usageError(`--verbose is an option of \`up\` only\nusage: ${command.usage}`);
  }
  if (rest.length > 0 && name !== 'config') {
    return usageError(`unexpected argument: ${rest.join(' ')}\nusage: ${command.usage}`);
  }
  return command.run(rest, values.config, values.verbose === true);
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
