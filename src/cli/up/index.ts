import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { errorMessage } from '../../shared/errors.js';
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
  const write = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  const logFile = upLogFile();
  const log = openLogFile(logFile, write);
  let stopping: Promise<void> | undefined;
  const finish = (exitCode: number): void => {
    stopping ??= supervisor.stop().then(() => {
      write('stopped');
      log.close(() => process.exit(exitCode));
    });
  };
  const supervisor = new Supervisor({
    configFile: options.configFile,
    proxies: config.proxy.instances,
    signalingNodes: config.signaling.instances,
    write,
    record: (line) => {
      log.write(line);
      if (options.verbose) process.stderr.write(`${line}\n`);
    },
    onFatal: finish,
  });
  process.on('SIGINT', () => finish(0));
  process.on('SIGTERM', () => finish(0));
  write(`${'logs'.padEnd(13)} ${log.open ? logFile : '(none: see the warning above)'}`);
  await supervisor.start();
  return 0;
}

interface LogFile {
  readonly open: boolean;
  write(line: string): void;
  close(done: () => void): void;
}

/**
 * The roles' log file. One that cannot be made or written (no state
 * directory, a full disk) costs the file, never the mesh: a warning, and the
 * lines go only where --verbose sends them.
 */
function openLogFile(path: string, warn: (line: string) => void): LogFile {
  let stream: WriteStream | undefined;
  const fail = (error: unknown): void => {
    if (stream === undefined) return;
    stream = undefined;
    warn(`up: cannot write the log file ${path}: ${errorMessage(error)}; going on without it`);
  };
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    stream = createWriteStream(path, { flags: 'w', mode: 0o600 });
    stream.on('error', fail);
  } catch (error) {
    warn(`up: cannot make the log file ${path}: ${errorMessage(error)}; going on without it`);
  }
  return {
    get open() {
      return stream !== undefined;
    },
    write(line) {
      stream?.write(`${line}\n`);
    },
    close(done) {
      if (stream === undefined) done();
      else stream.end(done);
    },
  };
}
