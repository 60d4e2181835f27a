/**
 * What `up` does with its roles' output. Every line goes to the log file
 * (and to stderr with --verbose) as the role wrote it — JSON lines, for log
 * shippers and for reading after the fact. The console gets only what a
 * person needs: warnings and errors, one readable line each, and a role's
 * reason for not starting as `proxy: cannot listen on ... (address in use)`.
 */
import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';

/** pino's numeric levels. */
const WARN = 40;
const ERROR = 50;
const FATAL = 60;

export interface RoleOutputOptions {
  /** A console line. */
  readonly write: (line: string) => void;
  /** Every line, as written (the log file; stderr too with --verbose). */
  readonly record: (line: string) => void;
}

interface LogRecord {
  readonly level: number;
  readonly msg?: string;
  readonly err?: { readonly message?: string };
}

/** Follows one role's stdout and stderr (each a stream of lines); `role` names it on the console. */
export function followRoleOutput(
  role: string,
  streams: readonly (Readable | null)[],
  options: RoleOutputOptions,
): void {
  for (const stream of streams) {
    if (stream === null) continue;
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    lines.on('line', (line) => {
      options.record(line);
      const shown = consoleLine(role, line);
      if (shown !== undefined) options.write(shown);
    });
  }
}

/** The console line for one output line of `role`, if a person needs to see it. */
export function consoleLine(role: string, line: string): string | undefined {
  const record = parseRecord(line);
  if (record === undefined || record.level < WARN) return undefined;
  const message = record.msg ?? '';
  if (record.level >= FATAL) return `${role}: ${message}`;
  const cause = record.err?.message;
  const text = cause !== undefined && !message.includes(cause) ? `${message}: ${cause}` : message;
  return `${role.padEnd(13)} ${record.level >= ERROR ? 'error' : 'warn '}  ${text}`;
}

function parseRecord(line: string): LogRecord | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    if (value === null || typeof value !== 'object') return undefined;
    const { level } = value as { level?: unknown };
    return typeof level === 'number' ? (value as LogRecord) : undefined;
  } catch {
    return undefined;
  }
}
