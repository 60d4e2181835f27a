/**
 * The process-group addon (native/process-group), in child processes of
 * this test: ownProcessGroup() puts the caller in a new process group of
 * its own session, and a session leader, which may not, gets setpgid's
 * EPERM as an error rather than a crash.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

const moduleUrl = new URL('../../../src/shared/process-group.js', import.meta.url).href;

/** Runs `body` in a node child (optionally as a session leader, via setsid) and returns its JSON output. */
function inChild(body: string, sessionLeader = false): Record<string, unknown> {
  const script = `
    import { readFileSync } from 'node:fs';
    import { ownProcessGroup } from ${JSON.stringify(moduleUrl)};
    const groups = () => {
      const stat = readFileSync('/proc/self/stat', 'utf8');
      const [, , group, session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return { group: Number(group), session: Number(session) };
    };
    ${body}`;
  const node = [process.execPath, '--input-type=module', '-e', script];
  const [command, ...args] = sessionLeader ? ['setsid', '-w', ...node] : node;
  const run = spawnSync(command ?? 'setsid', args, { encoding: 'utf8', timeout: 10_000 });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

describe('process-group addon', () => {
  it('gives the caller a group of its own in the same session', () => {
    const result = inChild(`
      const before = groups();
      const returned = ownProcessGroup();
      console.log(JSON.stringify({ pid: process.pid, before, after: groups(), returned }));
    `);
    const before = result['before'] as { group: number; session: number };
    assert.notEqual(before.group, result['pid'], 'the child starts in its parent group');
    assert.deepEqual(result['after'], { group: result['pid'], session: before.session });
    assert.equal(result['returned'], result['pid']);
  });

  it("throws setpgid's EPERM in a session leader", () => {
    const result = inChild(
      `
      let code = 'none';
      try { ownProcessGroup(); } catch (error) { code = error.code; }
      console.log(JSON.stringify({ pid: process.pid, code, after: groups() }));
    `,
      true,
    );
    assert.equal(result['code'], 'EPERM');
    assert.deepEqual(result['after'], { group: result['pid'], session: result['pid'] });
  });
});
