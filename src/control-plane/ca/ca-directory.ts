/**
 * Where a generated root is kept when the config names no directory: next
 * to the admin token, in streammesh's state directory (XDG).
 */
import { join } from 'node:path';
import { stateDirectory } from '../../shared/state-directory.js';

type Environment = Readonly<Record<string, string | undefined>>;

/** $XDG_STATE_HOME/streammesh/ca, else ~/.local/state/streammesh/ca. */
export function defaultCaDirectory(env: Environment = process.env): string {
  return join(stateDirectory(env), 'ca');
}
