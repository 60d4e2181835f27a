import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { MeshConfig } from '../../config/index.js';
import { stateDirectory } from '../../shared/state-directory.js';
import { exitOnConfigError } from '../config-error.js';
import { loadConfig } from '../role-process.js';
import { Supervisor } from './supervisor.js';

export interface UpOptions {
  readonly configFile: string | undefined;
  /** Every role's log lines on stderr too, not only in the log file. */
  readonly verbose: boolean;
}

/** Where `up` keeps its roles' logs: one file per run, the previous run's replaced. */
export function upLogFile(): string {
  return join(stateDirectory(), 'up.log');
}

/**
 * `streammesh up`: validates the config, then runs every role until a
 * signal. The console gets the banner, warnings and errors; the roles'
 * full logs go to the log file (and to stderr with --verbose).
 */
export async function up(options: UpOptions): Promise<number> {
  let config: MeshConfig;
  try {
    config = await loadConfig(options.configFile);
  } catch (error) {
    return exitOnConfigError(error);
  }
  const logFile = upLogFile();
  mkdirSync(stateDirectory(), { recursive: true, mode: 0o700 });
  const log = createWriteStream(logFile, { flags: 'w', mode: 0o600 });
  const write = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  let stopping: Promise<void> | undefined;
  const finish = (exitCode: number): void => {
    stopping ??= supervisor.stop().then(() => {
      write('stopped');
      log.end(() => process.exit(exitCode));
    });
  };
  const supervisor = new Supervisor({
    configFile: options.configFile,
    proxies: config.proxy.instances,
    write,
    record: (line) => {
      log.write(`${line}\n`);
      if (options.verbose) process.stderr.write(`${line}\n`);
    },
    onFatal: finish,
  });
  process.on('SIGINT', () => finish(0));
  process.on('SIGTERM', () => finish(0));
  write(`${'logs'.padEnd(13)} ${logFile}`);
  await supervisor.start();
  return 0;
}
