import { homedir } from 'node:os';
import { join } from 'node:path';

type Environment = Readonly<Record<string, string | undefined>>;

/**
 * Where streammesh keeps its state on this machine (the admin token, `up`'s
 * log), as the XDG base directory spec defines it: $XDG_STATE_HOME/streammesh,
 * else ~/.local/state/streammesh.
 */
export function stateDirectory(env: Environment = process.env): string {
  const stateHome = env['XDG_STATE_HOME'];
  const base =
    stateHome !== undefined && stateHome !== '' ? stateHome : join(homedir(), '.local', 'state');
  return join(base, 'streammesh');
}
