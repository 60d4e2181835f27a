/**
 * The `streammesh` command. Exit codes: 0 success, 1 runtime failure,
 * 2 bad usage or a bad config (nothing was started).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigFile, meshConfigJsonSchema } from '../config/index.js';
import { packageRoot } from '../shared/package-root.js';
import { exitOnConfigError } from './config-error.js';
import { runRole, type RoleName } from './role-process.js';
import { up } from './up/index.js';

interface Command {
  readonly usage: string;
  readonly summary: string;
  readonly details: string;
  readonly run: (positionals: string[], configFile: string | undefined) => Promise<number>;
}

const CONFIG_OPTION = '  -c, --config FILE   the mesh config (YAML); default: built-in defaults\n';

const commands: Record<string, Command> = {
  up: {
    usage: 'streammesh up [--config FILE]',
    summary: 'run the whole mesh on this machine (control plane, rtp-proxy, signaling)',
    details:
      'Starts each role as a supervised child process and prints one line per role\n' +
      'with its admin URL once it is ready. A crashed role is restarted with backoff.\n' +
      'Ctrl-C (SIGINT) or SIGTERM stops them all.\n\n' +
      CONFIG_OPTION,
    run: (_positionals, configFile) => up(configFile),
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

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (error) {
    return usageError(`${(error as Error).message}\n\n${generalHelp()}`);
  }
  const { values, positionals } = parsed;
  const [name, ...rest] = positionals;
  if (values.version === true) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (name === undefined) {
    process.stdout.write(generalHelp());
    return values.help === true ? 0 : 2;
  }
  const command = commands[name];
  if (command === undefined) return usageError(`unknown command: ${name}\n\n${generalHelp()}`);
  if (values.help === true) {
    process.stdout.write(`usage: ${command.usage}\n\n${command.summary}\n\n${command.details}`);
    return 0;
  }
  if (rest.length > 0 && name !== 'config') {
    return usageError(`unexpected argument: ${rest.join(' ')}\nusage: ${command.usage}`);
  }
  return command.run(rest, values.config);
}
