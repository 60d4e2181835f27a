import { exitOnConfigError } from '../config-error.js';
import { loadConfig } from '../role-process.js';
import { Supervisor } from './supervisor.js';

/** `streammesh up`: validates the config, then runs every role until a signal. */
export async function up(configFile: string | undefined): Promise<number> {
  try {
    await loadConfig(configFile);
  } catch (error) {
    return exitOnConfigError(error);
  }
  let stopping: Promise<void> | undefined;
  const finish = (exitCode: number): void => {
    stopping ??= supervisor.stop().then(() => process.exit(exitCode));
  };
  const supervisor = new Supervisor({
    configFile,
    write: (line) => process.stdout.write(`${line}\n`),
    onFatal: finish,
  });
  process.on('SIGINT', () => finish(0));
  process.on('SIGTERM', () => finish(0));
  await supervisor.start();
  return 0;
}
