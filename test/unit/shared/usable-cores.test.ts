/**
 * Reading the CPU quota from the shapes the kernel gives a container, which
 * this machine cannot make (cgroup v2 with a cgroup namespace, a v1
 * container without one, mountinfo's escapes): the files are given as text.
 * A real cgroup is read in test/integration/shared/usable-cores.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cgroupCpuLimit, usableCores, type ReadText } from '../../../src/shared/usable-cores.js';

/** The given files; a read outside /proc/self and the cgroup mounts fails the test. */
function files(entries: Record<string, string>): ReadText {
  return (path) => {
    assert.match(path, /^(\/proc\/self\/|\/sys\/fs\/cgroup\/)/, `read outside the mount: ${path}`);
    return entries[path];
  };
}

const v2Mount = '41 31 0:38 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n';

describe('cgroupCpuLimit', () => {
  it('cgroup v2 in a cgroup namespace: cpu.max of the mount itself, rounded up to cores', () => {
    const read = files({
      '/proc/self/cgroup': '0::/\n',
      '/proc/self/mountinfo': v2Mount,
      '/sys/fs/cgroup/cpu.max': '150000 100000\n',
    });
    assert.equal(cgroupCpuLimit(read), 1.5);
    assert.equal(usableCores(read, 8), 2);
    assert.equal(usableCores(read, 1), 1, 'never more than the affinity allows');
  });

  it('cgroup v2 without a quota ("max"), or without the cpu controller, leaves every core', () => {
    const base = { '/proc/self/cgroup': '0::/\n', '/proc/self/mountinfo': v2Mount };
    assert.equal(usableCores(files({ ...base, '/sys/fs/cgroup/cpu.max': 'max 100000\n' }), 8), 8);
    assert.equal(usableCores(files(base), 8), 8);
  });

  it('cgroup v2 from the host: the smallest quota from the process up to the mount', () => {
    const read = files({
      '/proc/self/cgroup': '0::/kubepods/pod1/c1\n',
      '/proc/self/mountinfo': v2Mount,
      '/sys/fs/cgroup/kubepods/pod1/c1/cpu.max': 'max 100000',
      '/sys/fs/cgroup/kubepods/pod1/cpu.max': '50000 100000',
      '/sys/fs/cgroup/kubepods/cpu.max': '400000 100000',
    });
    assert.equal(cgroupCpuLimit(read), 0.5);
    assert.equal(usableCores(read, 8), 1, 'at least one');
  });

  it('cgroup v1 mounted from a parent cgroup: the path below the mount root, walked up to it', () => {
    const read = files({
      '/proc/self/cgroup': '4:cpu:/pods/p1/c1\n',
      '/proc/self/mountinfo': '32 31 0:29 /pods /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n',
      '/sys/fs/cgroup/cpu/p1/c1/cpu.cfs_quota_us': '-1',
      '/sys/fs/cgroup/cpu/p1/c1/cpu.cfs_period_us': '100000',
      '/sys/fs/cgroup/cpu/p1/cpu.cfs_quota_us': '300000',
      '/sys/fs/cgroup/cpu/p1/cpu.cfs_period_us': '100000',
    });
    assert.equal(cgroupCpuLimit(read), 3);
  });

  it('a hybrid host (v1 cpu controller and a v2 mount without it) reads v1', () => {
    const read = files({
      '/proc/self/cgroup': '0::/\n1:cpu:/\n',
      '/proc/self/mountinfo':
        v2Mount.replace('/sys/fs/cgroup ', '/sys/fs/cgroup/unified ') +
        '32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n',
      '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '100000',
      '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000',
    });
    assert.equal(cgroupCpuLimit(read), 1);
  });

  it('cgroup v1 in a container without a cgroup namespace: the mount root is its own cgroup', () => {
    const read = files({
      '/proc/self/cgroup': '5:memory:/kubepods/pod1/c1\n4:cpu,cpuacct:/kubepods/pod1/c1\n',
      '/proc/self/mountinfo':
        '32 31 0:29 /kubepods/pod1/c1 /sys/fs/cgroup/cpu\\054cpuacct ro - cgroup cgroup rw,cpu,cpuacct\n',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '200000\n',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
    });
    assert.equal(cgroupCpuLimit(read), 2);
    assert.equal(usableCores(read, 16), 2);
  });

  it('unreadable or malformed files count as no quota', () => {
    assert.equal(cgroupCpuLimit(files({})), undefined);
    const read = files({
      '/proc/self/cgroup': 'garbage\n0::/\n',
      '/proc/self/mountinfo': 'nonsense line\n' + v2Mount,
      '/sys/fs/cgroup/cpu.max': 'x y z',
    });
    assert.equal(cgroupCpuLimit(read), undefined);
    assert.equal(usableCores(read, 4), 4);
  });
});
