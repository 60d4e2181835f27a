/**
 * The benchmarks' C programs, built with the system's gcc next to the
 * compiled copy of their directory (dist/loadtests/<dir>/) when missing or
 * older than one of their sources: mmsg-relay.c and rtp-load.c (bench:rtp),
 * libsrtp-alone.c (bench:srtp, with the proxy's native/srtp/openssl_crypto.c).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../common/streammesh-up.js';

interface CProgram {
  /** Under loadtests/. */
  readonly dir: string;
  /** Other sources, from the repository's root. */
  readonly sources: readonly string[];
  readonly includes: readonly string[];
  readonly libraries: readonly string[];
}

const programs = {
  'mmsg-relay': { dir: 'rtp', sources: [], includes: [], libraries: ['-lm'] },
  'rtp-load': { dir: 'rtp', sources: [], includes: [], libraries: ['-lm'] },
  'libsrtp-alone': {
    dir: 'srtp',
    sources: ['native/srtp/openssl_crypto.c'],
    includes: ['native/srtp'],
    libraries: ['-lsrtp2', '-lcrypto'],
  },
} as const satisfies Record<string, CProgram>;

/** Path of the built program `name`; throws with gcc's output. */
export function buildC(name: keyof typeof programs): string {
  const program: CProgram = programs[name];
  const sources = [
    join(repoRoot, 'loadtests', program.dir, `${name}.c`),
    ...program.sources.map((source) => join(repoRoot, source)),
  ];
  const binary = join(repoRoot, 'dist', 'loadtests', program.dir, name);
  if (
    existsSync(binary) &&
    sources.every((source) => statSync(binary).mtimeMs >= statSync(source).mtimeMs)
  ) {
    return binary;
  }
  const built = spawnSync(
    'gcc',
    [
      '-O2',
      '-Wall',
      '-Wextra',
      ...program.includes.map((dir) => `-I${join(repoRoot, dir)}`),
      '-o',
      binary,
      ...sources,
      ...program.libraries,
    ],
    { encoding: 'utf8' },
  );
  if (built.status !== 0) {
    throw new Error(`gcc could not build ${sources[0]}: ${built.stderr || String(built.error)}`);
  }
  return binary;
}
