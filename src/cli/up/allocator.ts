/**
 * The rtp-proxy runs on jemalloc where the machine has it (Debian's
 * libjemalloc2, installed by `npm install`), as Envoy runs on tcmalloc.
 * glibc's malloc kept the L7 thread's freed memory fragmented after an
 * HTTP/2 flood: the proxy's RSS stayed at 1.8x its baseline a minute later;
 * on jemalloc it came back to within 2%. STREAMMESH_ALLOCATOR=system keeps
 * glibc's.
 */
import { existsSync } from 'node:fs';

const JEMALLOC_PATHS = [
  '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2',
  '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2',
  '/usr/lib64/libjemalloc.so.2',
  '/usr/lib/libjemalloc.so.2',
];

type Environment = Readonly<Record<string, string | undefined>>;

/** Environment that preloads jemalloc into a child, or {} (no library, or asked not to). */
export function allocatorEnvironment(
  env: Environment = process.env,
  exists: (path: string) => boolean = existsSync,
): Record<string, string> {
  if (env['STREAMMESH_ALLOCATOR'] === 'system') return {};
  const library = JEMALLOC_PATHS.find((path) => exists(path));
  if (library === undefined) return {};
  const preload = env['LD_PRELOAD'];
  return {
    LD_PRELOAD: preload === undefined || preload === '' ? library : `${library}:${preload}`,
  };
}
