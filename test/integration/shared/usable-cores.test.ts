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
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { usableCores } from '../../../src/shared/usable-cores.js';
import { repoRoot } from '../../helpers/process.js';

const CPU_HIERARCHY = '/sys/fs/cgroup/cpu';
const PERIOD_US = 100_000;
const PROBE_TIMEOUT_MS = 30_000;

function cgroupsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (makes cgroups)';
  if (!existsSync(join(CPU_HIERARCHY, 'cpu.cfs_quota_us'))) {
    return `no cgroup v1 cpu controller at ${CPU_HIERARCHY}`;
  }
  if (usableCores() < 2) return 'needs 2 usable cores, to see a quota of 1 below them';
  return undefined;
}

/**
 * Makes cgroups under the cpu hierarchy (quotaUs -1 for none), all removed
 * when the test ends, children first (node:test runs after-hooks in the
 * order they were added).
 */
function cgroupMaker(t: TestContext): (path: string, quotaUs: number) => string {
  const made: string[] = [];
  t.after(() => {
    for (const dir of made.reverse()) rmdirSync(dir);
  });
  return (path, quotaUs) => {
    const dir = join(CPU_HIERARCHY, path);
    mkdirSync(dir);
    made.push(dir);
    writeFileSync(join(dir, 'cpu.cfs_period_us'), String(PERIOD_US));
    writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quotaUs));
    return dir;
  };
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
  const timer = setTimeout(() => child.kill('SIGKILL'), PROBE_TIMEOUT_MS);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  assert.equal(code, 0, `probe in ${dir}: ${stderr}`);
  return JSON.parse(stdout) as { cores: number; signalingWorkers: number };
}

describe('usable cores under a real cgroup CPU quota', { skip: cgroupsUnavailable() }, () => {
  const base = `streammesh-test-${process.pid}`;

  it('a quota of one CPU makes one core, for usableCores() and the signaling workers default', async (t) => {
    const dir = cgroupMaker(t)(`${base}-one`, PERIOD_US);
    assert.deepEqual(await readIn(dir), { cores: 1, signalingWorkers: 1 });
  });

  it("an ancestor's quota counts; a cgroup without one leaves what its parent allows", async (t) => {
    const makeCgroup = cgroupMaker(t);
    makeCgroup(`${base}-parent`, PERIOD_US);
    const child = makeCgroup(`${base}-parent/child`, -1);
    const free = makeCgroup(`${base}-free`, -1);
    assert.equal((await readIn(child)).cores, 1, 'limited by the parent');
    // The hierarchy's root is this process's cgroup here (or a container's, with its own quota).
    assert.equal((await readIn(free)).cores, usableCores(), 'no quota of its own');
  });
});
