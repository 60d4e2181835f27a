import { ConfigError } from '../shared/errors.js';

/** A refused config is printed as is and ends the command with exit code 2. */
export function exitOnConfigError(error: unknown): number {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\n`);
  return 2;
}
