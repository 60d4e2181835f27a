import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';

/**
 * One logger per process, tagged with the process's role. JSON lines for
 * machines; readable lines when a person watches a terminal.
 */
export function createLogger(role: string, level: LevelWithSilent): Logger {
  const options = { level, base: { role, pid: process.pid } };
  if (process.stdout.isTTY) {
    return pino(
      options,
      pretty({
        colorize: true,
        sync: true,
        ignore: 'pid,hostname',
        translateTime: 'SYS:HH:MM:ss.l',
      }),
    );
  }
  return pino(options);
}
