/**
 * The two L7 threads' failure tests (workers.test.ts) once more, in a
 * network namespace of their own with Linux's net.ipv4.tcp_migrate_req=1
 * (5.14+): a SO_REUSEPORT listener that closes hands the connections queued
 * on it to the other listeners of its port instead of resetting them. With
 * it, the connections the kernel gave a stuck thread's socket are served by
 * the other thread once the stuck one is ended (workers.test.ts asserts
 * every one served when it reads the sysctl as 1), and a crash loses only
 * the requests that thread had already accepted.
 *
 * The sysctl is per network namespace: it is set only in the new one
 * (`unshare -n`, its loopback brought up), never on the machine. Needs root.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const workersTest = fileURLToPath(new URL('./workers.test.js', import.meta.url));

function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (a network namespace)';
  const probe = spawnSync('unshare', ['-n', 'sh', '-c', 'sysctl -qw net.ipv4.tcp_migrate_req=1'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (probe.status !== 0) return `unshare -n / tcp_migrate_req: ${probe.stderr || probe.error}`;
  return undefined;
}

describe('L7 threads with tcp_migrate_req=1', { timeout: 240_000 }, () => {
  const skip = unavailable();
  it(
    'loses no queued connection of a stuck thread, and at most its in-flight requests on a crash',
    { skip },
    async () => {
      const script = [
        'ip link set lo up',
        'sysctl -qw net.ipv4.tcp_migrate_req=1',
        `exec node --test --test-name-pattern="crashed thread alone|stuck thread alone" ${workersTest}`,
      ].join(' && ');
      // Bounded by `timeout`, which ends node with it.
      // Without the runner's marker, the inner `node --test` runs its file rather than refusing to nest.
      const env = { ...process.env };
      delete env['NODE_TEST_CONTEXT'];
      const child = spawn('timeout', ['-k', '5', '200', 'unshare', '-n', 'sh', '-c', script], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env,
      });
      let output = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      assert.equal(code, 0, output);
      assert.match(output, /^# pass 2$/m, output);
      const stuck =
        /one of two L7 threads stuck \S+ ms\+: (\d+) of (\d+) new connections served/.exec(output);
      assert.ok(stuck !== null, output);
      assert.equal(stuck[1], stuck[2], 'every connection made during the stall was served');
      const crash = /crash of one of two L7 threads: (\d+) requests, (\d+) failed/.exec(output);
      assert.ok(crash !== null, output);
      console.log(`# in a namespace with tcp_migrate_req=1: ${stuck[0]}; ${crash[0]}`);
    },
  );
});
