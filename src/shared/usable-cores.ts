/**
 * How many cores this process may use, for the defaults that say "one per
 * core" (proxy.workers, signaling.workers): os.availableParallelism() (the
 * CPU affinity) capped by the CPU quota of the process's cgroup. In a
 * Kubernetes pod with a CPU limit, Node 20's availableParallelism() (libuv
 * 1.46) counts every core of the node: a proxy on a 64-core node limited to
 * 2 CPUs would start 64 media workers and 64 L7 threads, each with its own
 * heap, and share 2 CPUs among them. Go (GOMAXPROCS, 1.25) and the JVM read the same quota.
 *
 * The quota is read where the kernel shows it: cgroup v1's cpu controller
 * (cpu.cfs_quota_us / cpu.cfs_period_us) or cgroup v2's cpu.max, for the
 * process's own cgroup and each of its ancestors up to the mount; the
 * smallest wins, rounded up to whole cores. Anything unreadable counts as
 * no quota.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { posix } from 'node:path';

/** A file's text, or undefined when it cannot be read. */
export type ReadText = (path: string) => string | undefined;

const readText: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

export function usableCores(read: ReadText = readText, cores = availableParallelism()): number {
  const limit = cgroupCpuLimit(read);
  return limit === undefined ? cores : Math.max(1, Math.min(cores, Math.ceil(limit)));
}

interface CgroupMount {
  readonly version: 1 | 2;
  /** The cgroup path the mount's root directory is. */
  readonly root: string;
  readonly mountPoint: string;
}

/** The CPU quota in cores (1.5 for 150 ms per 100 ms), or undefined for none. */
export function cgroupCpuLimit(read: ReadText = readText): number | undefined {
  const membership = read('/proc/self/cgroup');
  const mounts = read('/proc/self/mountinfo');
  if (membership === undefined || mounts === undefined) return undefined;
  const mount = cpuMounts(mounts);
  // cgroup v1's cpu controller first: on a hybrid host v2 holds no cpu controller.
  for (const version of [1, 2] as const) {
    const path = cgroupPath(membership, version);
    const at = mount.find((candidate) => candidate.version === version);
    if (path === undefined || at === undefined) continue;
    return smallestQuota(read, at, path);
  }
  return undefined;
}

/** The process's cgroup path in the v1 cpu hierarchy or the v2 one, from /proc/self/cgroup. */
function cgroupPath(membership: string, version: 1 | 2): string | undefined {
  for (const line of membership.split('\n')) {
    const [id, controllers, ...rest] = line.split(':');
    const path = rest.join(':');
    if (id === undefined || controllers === undefined || path === '') continue;
    if (version === 2 && id === '0' && controllers === '') return path;
    if (version === 1 && controllers.split(',').includes('cpu')) return path;
  }
  return undefined;
}

/** The cgroup v1 mounts with the cpu controller and the cgroup v2 mounts, from mountinfo. */
function cpuMounts(mountinfo: string): CgroupMount[] {
  const found: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const [before, after] = line.split(' - ');
    if (before === undefined || after === undefined) continue;
    const [, , , root, mountPoint] = before.split(' ');
    const [type, , options = ''] = after.split(' ');
    const version =
      type === 'cgroup2' ? 2 : type === 'cgroup' && options.split(',').includes('cpu') ? 1 : 0;
    if (version === 0 || root === undefined || mountPoint === undefined) continue;
    found.push({
      version,
      root: unescapeMountField(root),
      mountPoint: unescapeMountField(mountPoint),
    });
  }
  return found;
}

/** mountinfo writes space, tab, newline and backslash as octal escapes (\040). */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(parseInt(octal, 8)),
  );
}

function smallestQuota(read: ReadText, mount: CgroupMount, path: string): number | undefined {
  // Inside a container the mount's root is the container's own cgroup (or "/" with a cgroup namespace).
  const below =
    mount.root === '/'
      ? path
      : path.startsWith(`${mount.root}/`)
        ? path.slice(mount.root.length)
        : '/';
  const top = posix.resolve(mount.mountPoint);
  let smallest: number | undefined;
  // From the process's cgroup up to the mount's root directory, and never above it.
  for (let dir = posix.resolve(top, `.${below}`); dir.startsWith(top); dir = posix.dirname(dir)) {
    const quota = mount.version === 1 ? quotaV1(read, dir) : quotaV2(read, dir);
    if (quota !== undefined) smallest = Math.min(smallest ?? Infinity, quota);
    if (dir === top) break;
  }
  return smallest;
}

function quotaV1(read: ReadText, dir: string): number | undefined {
  const quota = Number(read(posix.join(dir, 'cpu.cfs_quota_us'))?.trim());
  const period = Number(read(posix.join(dir, 'cpu.cfs_period_us'))?.trim());
  return quota > 0 && period > 0 ? quota / period : undefined;
}

function quotaV2(read: ReadText, dir: string): number | undefined {
  const [quota, period] = (read(posix.join(dir, 'cpu.max')) ?? '').trim().split(/\s+/);
  const cores = Number(quota) / Number(period ?? 100_000);
  return quota !== 'max' && Number.isFinite(cores) && cores > 0 ? cores : undefined;
}
