/**
 * The benchmark's C programs (mmsg-relay.c, rtp-load.c), built with the
 * system's gcc next to this file's compiled copy (dist/loadtests/rtp/) when
 * missing or older than their source.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../common/streammesh-up.js';

/** Path of the built program `name` (from loadtests/rtp/<name>.c); throws with gcc's output. */
export function buildC(name: 'mmsg-relay' | 'rtp-load'): string {
  const source = join(repoRoot, 'loadtests', 'rtp', `${name}.c`);
  const binary = join(repoRoot, 'dist', 'loadtests', 'rtp', name);
  if (existsSync(binary) && statSync(binary).mtimeMs >= statSync(source).mtimeMs) return binary;
  const built = spawnSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', binary, source, '-lm'], {
    encoding: 'utf8',
  });
  if (built.status !== 0) {
    throw new Error(`gcc could not build ${source}: ${built.stderr || String(built.error)}`);
  }
  return binary;
}
