import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

export type { Logger, LevelWithSilent } from 'pino';

/**
 * One logger per process, tagged with the process's role. JSON lines for
 * machines; readable lines when a person watches a terminal.
 */
export function createLogger(
  role: string,
  level: LevelWithSilent,
  // A worker thread's process.stdout is no TTY even when the process's is: it is told.
  tty: boolean = process.stdout.isTTY,
): Logger {
  const options = { level, base: { role, pid: process.pid } };
  if (tty) {
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
