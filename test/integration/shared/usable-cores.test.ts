/**
 * "One per core" counts the cores a process may use: a process in a real
 * cgroup with a CPU quota (cgroup v1's cpu controller, as this machine
 * mounts it; made and removed by the test, so it needs root) sees the
 * quota, rounded up, in usableCores() and in the config's default
 * signaling.workers; a quota on an ancestor counts too, and a cgroup
 * without one leaves availableParallelism(). The same reading on a pod
 * with a CPU limit is what keeps a proxy on a large node from starting a
 * worker per core of the node.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../../helpers/process.js';

const CPU_HIERARCHY = '/sys/fs/cgroup/cpu';
const PERIOD_US = 100_000;

function cgroupsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (makes cgroups)';
  if (!existsSync(join(CPU_HIERARCHY, 'cpu.cfs_quota_us'))) {
    return `no cgroup v1 cpu controller at ${CPU_HIERARCHY}`;
  }
  if (availableParallelism() < 2) return 'needs 2 cores, to see a quota of 1 below them';
  return undefined;
}

/** Makes a cgroup (and its parent first) under the cpu hierarchy; quotaUs -1 for none. */
function makeCgroup(path: string, quotaUs: number): string {
  const dir = join(CPU_HIERARCHY, path);
  mkdirSync(dir);
  writeFileSync(join(dir, 'cpu.cfs_period_us'), String(PERIOD_US));
  writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quotaUs));
  return dir;
}

const probe = `
const { usableCores } = await import(${JSON.stringify(join(repoRoot, 'dist/src/shared/usable-cores.js'))});
const { parseConfigText } = await import(${JSON.stringify(join(repoRoot, 'dist/src/config/index.js'))});
const config = parseConfigText('{}', 'probe');
process.stdout.write(JSON.stringify({ cores: usableCores(), signalingWorkers: config.signaling.workers }));
`;

/** What a node process started in the cgroup `dir` reads. */
async function readIn(dir: string): Promise<{ cores: number; signalingWorkers: number }> {
  // The shell joins the cgroup, then becomes node: the probe runs in it from its first instruction.
  const child = spawn(
    'sh',
    [
      '-c',
      `echo $$ > "$0/cgroup.procs" && exec "$1" --input-type=module -e "$2"`,
      dir,
      process.execPath,
      probe,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, `probe in ${dir}: ${stderr}`);
  return JSON.parse(stdout) as { cores: number; signalingWorkers: number };
}

describe('usable cores under a real cgroup CPU quota', { skip: cgroupsUnavailable() }, () => {
  const base = `streammesh-test-${process.pid}`;

  it('a quota of one CPU makes one core, for usableCores() and the signaling workers default', async () => {
    const dir = makeCgroup(`${base}-one`, PERIOD_US);
    try {
      assert.deepEqual(await readIn(dir), { cores: 1, signalingWorkers: 1 });
    } finally {
      rmdirSync(dir);
    }
  });

  it("an ancestor's quota counts; a cgroup without one leaves every core", async () => {
    const parent = makeCgroup(`${base}-parent`, PERIOD_US);
    const child = makeCgroup(`${base}-parent/child`, -1);
    const free = makeCgroup(`${base}-free`, -1);
    try {
      assert.equal((await readIn(child)).cores, 1, 'limited by the parent');
      assert.equal((await readIn(free)).cores, availableParallelism(), 'no quota anywhere');
    } finally {
      rmdirSync(child);
      rmdirSync(parent);
      rmdirSync(free);
    }
  });
});
